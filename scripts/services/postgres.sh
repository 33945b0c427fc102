#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the test suites.
#
#   scripts/services/postgres.sh install installs the packages when missing (what start does first)
#   scripts/services/postgres.sh start   installs PostgreSQL when missing (Debian, as root), creates
#                                        a fresh cluster, starts it and prints on stdout:
#                                        BERTH_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/services/postgres.sh stop    stops the server this script started (by its PID) and
#                                        removes its data
#
# Settings: BERTH_SERVICES_DIR (default /tmp/berth-services), BERTH_PG_PORT (default 55432).
# Progress goes to stderr, so `eval "$(scripts/services/postgres.sh start)"` works.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

dir="${BERTH_SERVICES_DIR:-/tmp/berth-services}/postgres"
port="${BERTH_PG_PORT:-55432}"
log() { echo "postgres.sh: $*" >&2; }

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

install_postgres() {
  apt_install_no_start PostgreSQL postgresql-15
}

# Runs a command as the owner of the cluster: `postgres` when we are root (initdb refuses root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

server_pid() {
  [ -f "$dir/data/postmaster.pid" ] && head -n 1 "$dir/data/postmaster.pid" || true
}

stop() {
  local pid
  pid="$(server_pid)"
  stop_pid "PID $pid" "$pid" INT # SIGINT: PostgreSQL's fast shutdown (aborts open sessions, then exits)
  rm -rf "$dir"
}

start() {
  local bin
  bin="$(pg_bin)" || { install_postgres; bin="$(pg_bin)"; }
  stop # a previous run's server, if its files are still there
  mkdir -p "$dir/data"
  chmod 700 "$dir" "$dir/data"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: a test server never needs to survive a power cut.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  log "PostgreSQL running on 127.0.0.1:$port, PID $(server_pid)"
  echo "BERTH_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
}

case "${1:-}" in
  install) pg_bin >/dev/null || install_postgres ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
