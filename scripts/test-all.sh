#!/usr/bin/env bash
# Every test suite, the PostgreSQL and S3 ones included: installs what is missing (as root),
# starts PostgreSQL and Ceph radosgw on loopback, runs `npm test` with their addresses, and stops
# them (by PID) whatever happens. A service that does not start is reported and its suites are
# skipped, unless BERTH_TEST_SERVICES=required (then the run fails).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/test-deps.sh

logs="$(mktemp -d)"
cleanup() {
  bash scripts/services/s3.sh stop || true
  bash scripts/services/postgres.sh stop || true
  rm -rf "$logs"
}
trap cleanup EXIT

began=$SECONDS
# Installs one after the other (apt and dpkg take locks), then both servers start at once.
bash scripts/services/postgres.sh install || true
bash scripts/services/s3.sh install || true
# Both start at once; each prints KEY=VALUE lines on stdout.
bash scripts/services/postgres.sh start >"$logs/pg.env" 2>"$logs/pg.err" & pg_pid=$!
bash scripts/services/s3.sh start >"$logs/s3.env" 2>"$logs/s3.err" & s3_pid=$!
failed=()
wait "$pg_pid" || failed+=(postgres)
wait "$s3_pid" || failed+=(s3)
cat "$logs/pg.err" "$logs/s3.err" >&2
for name in "${failed[@]}"; do
  echo "test-all: the $name test server did not start (above); its suites will be skipped" >&2
done
if [ ${#failed[@]} -gt 0 ] && [ "${BERTH_TEST_SERVICES:-}" = required ]; then exit 1; fi
echo "test-all: services ready in $((SECONDS - began)) s" >&2

set -a
for name in pg s3; do
  if [[ ! " ${failed[*]} " =~ " ${name/pg/postgres} " ]]; then
    # shellcheck disable=SC1090
    . "$logs/$name.env"
  fi
done
set +a

npm test
