#!/usr/bin/env bash
# 00-devices: the lab's kernel devices are there and carry traffic: rxe and
# siw are listed, rdma_cm puts each address on its own device, rping and
# ib_write_bw run over each to the guest's own address, and both NVDIMM
# namespaces exist (the fsdax one mounts with -o dax).
set -uo pipefail
# shellcheck source=../lib-scenario.sh
source "$LAB_LIB"

devs=$(ibv_devices)
echo "$devs"
lab_check "ibv_devices lists $LAB_RXE_DEV" grep -qw "$LAB_RXE_DEV" <<<"$devs"
lab_check "ibv_devices lists $LAB_SIW_DEV" grep -qw "$LAB_SIW_DEV" <<<"$devs"
links=$(rdma link show)
lab_check "$LAB_RXE_DEV is on $LAB_RXE_NETDEV" grep -q "^link $LAB_RXE_DEV/1 state ACTIVE .*netdev $LAB_RXE_NETDEV" <<<"$links"
lab_check "$LAB_SIW_DEV is on $LAB_SIW_NETDEV" grep -q "^link $LAB_SIW_DEV/1 state ACTIVE .*netdev $LAB_SIW_NETDEV" <<<"$links"

# rping: server and client over one address; the server's listener must be
# on the expected device.
rping_over() { # ADDR DEV PORT
  local addr=$1 dev=$2 port=$3 spid rc got
  timeout 60 rping -s -a "$addr" -p "$port" -C 5 -v >"$LAB_OUT/rping-$dev-server.log" 2>&1 &
  spid=$!
  lab_wait_listen "rdma://$addr:$port" 20 || return 1
  got=$(lab_rdma_dev_of "$addr" "$port")
  [[ $got == "$dev" ]] || { echo "listener on $addr is on device '$got', want $dev"; return 1; }
  timeout 60 rping -c -a "$addr" -p "$port" -C 5 -v >"$LAB_OUT/rping-$dev-client.log" 2>&1
  rc=$?
  wait "$spid" || rc=1
  grep -q 'rdma-ping-4' "$LAB_OUT/rping-$dev-client.log" || rc=1
  return "$rc"
}
bw_over() { # ADDR DEV PORT
  local addr=$1 dev=$2 port=$3 spid rc
  timeout 90 ib_write_bw -R -d "$dev" -p "$port" -n 200 -s 65536 -F >"$LAB_OUT/bw-$dev-server.log" 2>&1 &
  spid=$!
  lab_wait_listen "rdma://$addr:$port" 20 || return 1
  timeout 90 ib_write_bw -R -d "$dev" -p "$port" -n 200 -s 65536 -F "$addr" >"$LAB_OUT/bw-$dev-client.log" 2>&1
  rc=$?
  wait "$spid" || rc=1
  grep -E '^ *65536 +200 ' "$LAB_OUT/bw-$dev-client.log"
  return "$rc"
}
lab_check "rping over $LAB_RXE_DEV ($LAB_RXE_ADDR)" rping_over "$LAB_RXE_ADDR" "$LAB_RXE_DEV" 7174
lab_check "rping over $LAB_SIW_DEV ($LAB_SIW_ADDR)" rping_over "$LAB_SIW_ADDR" "$LAB_SIW_DEV" 7175
lab_check "ib_write_bw over $LAB_RXE_DEV ($LAB_RXE_ADDR)" bw_over "$LAB_RXE_ADDR" "$LAB_RXE_DEV" 18515
lab_check "ib_write_bw over $LAB_SIW_DEV ($LAB_SIW_ADDR)" bw_over "$LAB_SIW_ADDR" "$LAB_SIW_DEV" 18516

# NVDIMMs
ndctl list -RN >"$LAB_OUT/ndctl.json"
lab_check "two NVDIMM regions, persistence domain memory_controller" \
  test "$(grep -c '"persistence_domain":"memory_controller"' "$LAB_OUT/ndctl.json")" = 2
lab_check "fsdax namespace $LAB_PMEM_FSDAX" test -b "$LAB_PMEM_FSDAX"
lab_check "devdax namespace $LAB_PMEM_DEVDAX" test -c "$LAB_PMEM_DEVDAX"
dax_mount() {
  mkfs.ext4 -q -F -b 4096 "$LAB_PMEM_FSDAX" &&
    mkdir -p "$LAB_TMP/dax" &&
    mount -o dax "$LAB_PMEM_FSDAX" "$LAB_TMP/dax" &&
    grep -q "^$LAB_PMEM_FSDAX $LAB_TMP/dax ext4 .*dax" /proc/mounts
}
lab_check "ext4 on $LAB_PMEM_FSDAX mounts with -o dax" dax_mount
umount "$LAB_TMP/dax" 2>/dev/null

lab_done
