#!/usr/bin/env bash
# A real S3-compatible object store on loopback for the test suites: Ceph radosgw over one
# monitor and one BlueStore OSD in a sparse file (no mgr). Needs root (Debian packages, daemons).
#
#   scripts/services/s3.sh install installs the packages when missing (what start does first)
#   scripts/services/s3.sh start   installs ceph-mon ceph-osd radosgw ceph-common when missing,
#                                  bootstraps a fresh cluster, starts it and prints on stdout:
#                                  BERTH_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#                                  BERTH_TEST_S3_ACCESS_KEY_ID=... BERTH_TEST_S3_SECRET_ACCESS_KEY=...
#   scripts/services/s3.sh stop    stops the daemons this script started (by PID) and removes their data
#
# Settings: BERTH_SERVICES_DIR (default /tmp/berth-services), BERTH_S3_PORT (default 57480),
# BERTH_CEPH_MON_PORT (default 56789; the v2 port is the next one).
# Progress goes to stderr. See ../shared/reference/s3-test-server.md for why each setting is there.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

dir="${BERTH_SERVICES_DIR:-/tmp/berth-services}/ceph"
rgw_port="${BERTH_S3_PORT:-57480}"
mon_v1="${BERTH_CEPH_MON_PORT:-56789}"
mon_v2=$((mon_v1 + 1))
access_key="berthtestaccesskey"
secret_key="berthtestsecretkey0123456789"
conf="$dir/ceph.conf"
log() { echo "s3.sh: $*" >&2; }

install_ceph() {
  apt_install_no_start Ceph ceph-mon ceph-osd radosgw ceph-common
}

stop() {
  local name pid
  for name in rgw osd mon; do
    [ -f "$dir/$name.pid" ] || continue
    pid="$(cat "$dir/$name.pid")"
    stop_pid "$name (PID $pid)" "$pid" TERM
  done
  rm -rf "$dir"
}

# wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.25 s.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out after ${seconds}s waiting for $what; logs in $dir/log"
      tail -n 30 "$dir"/log/*.log >&2 || true
      return 1
    fi
    sleep 0.25
  done
}

daemon_alive() { kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }
osd_up() { daemon_alive osd && timeout 10 ceph -c "$conf" osd dump 2>/dev/null | grep -q '^osd.0 up'; }
rgw_answers() { daemon_alive rgw && curl -fsS -o /dev/null "http://127.0.0.1:$rgw_port/"; }

start() {
  command -v radosgw >/dev/null 2>&1 && command -v ceph-mon >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1 || install_ceph
  command -v curl >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null; }
  stop # a previous run's daemons, if their files are still there
  # A failed start leaves nothing running.
  trap 'log "start failed; stopping what was started"; stop' ERR
  mkdir -p "$dir/mon" "$dir/osd" "$dir/rgw" "$dir/run" "$dir/log"
  local fsid osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  cat > "$conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public_network = 127.0.0.0/8
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
ms_client_mode = crc
ms_cluster_mode = crc
ms_service_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_max_pg_per_osd = 1000
mon_data_avail_crit = 0
mon_data_avail_warn = 0
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
keyring = $dir/keyring
[mon.a]
mon_data = $dir/mon
[osd.0]
osd_data = $dir/osd
osd_objectstore = bluestore
bluestore_block_path = $dir/osd-block
bluestore_block_size = 10737418240
bluestore_block_create = true
bluestore_fsck_on_mkfs = false
osd_memory_target = 1073741824
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $dir/rgw
rgw_gc_obj_min_wait = 60
CONF
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >"$dir/log/mkfs-mon.out" 2>&1 \
    || { cat "$dir/log/mkfs-mon.out" >&2; exit 1; }

  ceph-mon -c "$conf" -f -i a >"$dir/log/mon.out" 2>&1 &
  echo $! > "$dir/mon.pid"
  wait_for 60 "the monitor" timeout 10 ceph -c "$conf" mon stat

  ceph -c "$conf" osd new "$osd_uuid" 0 >/dev/null
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/mkfs-osd.out" 2>&1 \
    || { cat "$dir/log/mkfs-osd.out" >&2; exit 1; }
  ceph-osd -c "$conf" -f -i 0 >"$dir/log/osd.out" 2>&1 &
  echo $! > "$dir/osd.pid"
  wait_for 120 "the OSD" osd_up

  radosgw -c "$conf" -f -n client.rgw.a >"$dir/log/rgw.out" 2>&1 &
  echo $! > "$dir/rgw.pid"
  wait_for 180 "radosgw" rgw_answers
  radosgw-admin -c "$conf" user create --uid=berth-test --display-name="Berth tests" \
    --access-key="$access_key" --secret-key="$secret_key" >/dev/null

  trap - ERR
  log "radosgw running on 127.0.0.1:$rgw_port (PIDs mon $(cat "$dir/mon.pid"), osd $(cat "$dir/osd.pid"), rgw $(cat "$dir/rgw.pid"))"
  echo "BERTH_TEST_S3_ENDPOINT=http://127.0.0.1:$rgw_port"
  echo "BERTH_TEST_S3_ACCESS_KEY_ID=$access_key"
  echo "BERTH_TEST_S3_SECRET_ACCESS_KEY=$secret_key"
}

case "${1:-}" in
  install) command -v radosgw >/dev/null 2>&1 && command -v ceph-mon >/dev/null 2>&1 && command -v ceph-osd >/dev/null 2>&1 || install_ceph ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
