# Sourced by the service scripts: what postgres.sh and s3.sh share.

# Installs Debian packages without letting dpkg start the distribution's own daemons (a
# policy-rc.d that exits 101, removed again if we created it).
# Usage: apt_install_no_start WHAT PACKAGE...   (WHAT names the service in messages)
apt_install_no_start() {
  local what="$1"
  shift
  if [ "$(id -u)" -ne 0 ]; then
    echo "$what is not installed; run as root or: apt-get install $*" >&2
    exit 1
  fi
  echo "installing $*" >&2
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# Stops one process we started, by its PID: SIGNAL first, SIGKILL if it is still there after 10 s.
# Usage: stop_pid LABEL PID SIGNAL   (messages go through the sourcing script's log function)
stop_pid() {
  local label="$1" pid="$2" signal="$3"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping $label"
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$label still running after 10 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
}
