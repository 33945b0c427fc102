# Sourced by the service scripts: installs Debian packages without letting dpkg start the
# distribution's own daemons (a policy-rc.d that exits 101, removed again if we created it).
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
