#!/bin/bash
# Runs inside the lab guest (as root, chrooted into the host's / read-only
# with tmpfs /tmp and /run), started by the initramfs's /init. test/kernel/run
# copies it into the run folder together with job.env. It readies the kernel
# devices, then runs each scenario with its output on the console and in
# $LAB_RUN/<name>.log, its exit status in $LAB_RUN/.lab/<name>.rc.
set -uo pipefail
source "$(dirname "$0")/job.env"
export PATH=$LAB_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp/home LANG=C.UTF-8
mkdir -p "$HOME"
ulimit -l unlimited
cd /tmp || exit 1

say() { echo "lab: $*"; }
errors=()
must() { "$@" || { errors+=("$*"); say "FAILED: $*"; return 1; }; }

# --- modules: the unpacked image, never the host's modprobe.d -------------
K=$LAB_KDIR/k
M="modprobe -C /dev/null -d $K -S $LAB_KVER"
# Plain `modprobe X` in scenarios works too: the image's modules at the
# usual path, and no modprobe.d (ndctl's libnvdimm hook breaks loading).
mount -o bind "$K/lib/modules/$LAB_KVER" "/lib/modules/$LAB_KVER" 2>/dev/null ||
  say "note: cannot bind /lib/modules/$LAB_KVER (plain modprobe will not work; use \$LAB_MODPROBE)"
mount -t tmpfs -o size=1m,mode=755 none /etc/modprobe.d
must $M crc32_generic
must $M rdma_rxe
must $M -a ib_core rdma_ucm ib_uverbs libcrc32c
must insmod "$K/lib/modules/$LAB_KVER/extra/siw.ko"
must $M -a nfit nd_pmem dax_pmem device_dax ext4

# --- network: rxe on one NIC, siw on the other -------------------------------
# rdma_cm picks the RDMA device by the netdev that owns the address, so each
# soft device gets its own NIC and address. /32 addresses: no subnet route,
# so nothing can leave the guest; traffic to its own addresses goes over lo.
netdev_by_mac() {
  local d
  for d in /sys/class/net/*; do
    [[ $(cat "$d/address") == "$1" ]] && { basename "$d"; return; }
  done
}
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
LAB_RXE_NETDEV=$(netdev_by_mac "$LAB_RXE_MAC")
LAB_SIW_NETDEV=$(netdev_by_mac "$LAB_SIW_MAC")
must ip link set lo up
if [[ -n $LAB_RXE_NETDEV && -n $LAB_SIW_NETDEV ]]; then
  must ip link set "$LAB_RXE_NETDEV" up
  must ip addr add "$LAB_RXE_ADDR/32" dev "$LAB_RXE_NETDEV"
  must ip link set "$LAB_SIW_NETDEV" up
  must ip addr add "$LAB_SIW_ADDR/32" dev "$LAB_SIW_NETDEV"
  must rdma link add "$LAB_RXE_DEV" type rxe netdev "$LAB_RXE_NETDEV"
  must rdma link add "$LAB_SIW_DEV" type siw netdev "$LAB_SIW_NETDEV"
else
  errors+=("no NIC with MAC $LAB_RXE_MAC / $LAB_SIW_MAC")
fi
export LAB_RXE_NETDEV LAB_SIW_NETDEV

# --- NVDIMMs: region0 -> fsdax /dev/pmemN, region1 -> devdax /dev/daxN.M ------
# Label-less NVDIMMs: each region has one namespace (namespaceN.0) that
# ndctl turns into fsdax or devdax in place (-f -e).
pmem_ready() {
  [[ -b $LAB_PMEM_FSDAX && -c $LAB_PMEM_DEVDAX ]] || return 1
  ndctl list -N -n "$LAB_PMEM_FSDAX_NS" | grep -q '"mode":"fsdax"' &&
    ndctl list -N -n "$LAB_PMEM_DEVDAX_NS" | grep -q '"mode":"devdax"'
}
pmem_setup() {
  for _ in $(seq 50); do
    [[ -e /sys/bus/nd/devices/region1/namespace1.0 ]] && break
    sleep 0.2
  done
  ndctl create-namespace -f -e "$LAB_PMEM_FSDAX_NS" -m fsdax >/dev/null &&
    ndctl create-namespace -f -e "$LAB_PMEM_DEVDAX_NS" -m devdax >/dev/null || return 1
  LAB_PMEM_FSDAX=/dev/$(ndctl list -N -n "$LAB_PMEM_FSDAX_NS" | sed -n 's/.*"blockdev":"\([^"]*\)".*/\1/p')
  LAB_PMEM_DEVDAX=/dev/$(ndctl list -N -n "$LAB_PMEM_DEVDAX_NS" | sed -n 's/.*"chardev":"\([^"]*\)".*/\1/p')
  pmem_ready
}
LAB_PMEM_REGIONS="region0 region1"
LAB_PMEM_FSDAX_NS=namespace0.0
LAB_PMEM_DEVDAX_NS=namespace1.0
LAB_PMEM_FSDAX=/dev/pmem0
LAB_PMEM_DEVDAX=/dev/dax1.0
pmem_setup || errors+=("NVDIMM namespaces")
export LAB_PMEM_REGIONS LAB_PMEM_FSDAX LAB_PMEM_DEVDAX LAB_PMEM_FSDAX_NS LAB_PMEM_DEVDAX_NS
export LAB_LIB=$LAB_REPO/test/kernel/lib-scenario.sh
export LAB_MODPROBE=$M LAB_RUN LAB_KVER LAB_REPO LAB_BIN LAB_RXE_ADDR LAB_SIW_ADDR LAB_RXE_DEV LAB_SIW_DEV

{
  rdma link show
  ibv_devices
  ndctl list -RN
} >"$LAB_RUN/devices.txt" 2>&1
say "rxe: $LAB_RXE_DEV on $LAB_RXE_NETDEV $LAB_RXE_ADDR; siw: $LAB_SIW_DEV on $LAB_SIW_NETDEV $LAB_SIW_ADDR;" \
  "pmem: fsdax $LAB_PMEM_FSDAX, devdax $LAB_PMEM_DEVDAX; ready in ${SECONDS} s"
if ((${#errors[@]})); then
  say "lab setup failed: ${errors[*]}"
  printf '%s\n' "${errors[@]}" >"$LAB_RUN/.lab/setup-error"
  dmesg | tail -n 40
  exit 1
fi

# --- scenarios -----------------------------------------------------------------
# A scenario runs in its own session (setsid): when it ends, whatever it left
# running is killed, and a timeout kills the whole session.
run_one() { # name path
  local name=$1 path=$2 args=() rc t0=$SECONDS verdict
  [[ -f $LAB_RUN/.lab/$name.args ]] && mapfile -d '' -t args <"$LAB_RUN/.lab/$name.args"
  export LAB_SCENARIO=$name LAB_OUT=$LAB_RUN/$name LAB_TMP=/tmp/lab/$name
  mkdir -p "$LAB_OUT" "$LAB_TMP"
  pmem_ready || pmem_setup || say "warning: could not restore the NVDIMM namespaces"
  echo "===== $name: start"
  local fifo=/tmp/lab/.$name.fifo
  mkfifo "$fifo"
  tee -a "$LAB_RUN/$name.log" <"$fifo" &
  local tee_pid=$!
  (cd "$LAB_TMP" && exec setsid timeout -k 10 "$LAB_TIMEOUT" bash "$path" "${args[@]}") \
    </dev/null >"$fifo" 2>&1 &
  local pid=$!
  wait "$pid"
  rc=$?
  # The subshell exec'd setsid, which (not a group leader) became the session.
  pkill -KILL -s "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$tee_pid" 2>/dev/null
  wait "$tee_pid" 2>/dev/null
  rm -f "$fifo"
  # Leave nothing mounted from the NVDIMMs for the next scenario.
  awk -v d="$LAB_PMEM_FSDAX" '$1 == d {print $2}' /proc/mounts | xargs -r -n1 umount -l
  echo "$rc" >"$LAB_RUN/.lab/$name.rc"
  if ((rc == 0)); then
    verdict=PASS
  elif ((rc == 124 || rc == 137)); then
    verdict="FAIL (timed out after $LAB_TIMEOUT s)"
  else
    verdict="FAIL (exit $rc)"
  fi
  if ((rc != 0)); then
    echo "----- $name: last kernel messages"
    dmesg | tail -n 20
  fi
  echo "===== $name: $verdict in $((SECONDS - t0)) s"
}

while IFS=$'\t' read -r name path; do
  run_one "$name" "$path"
done <"$LAB_RUN/.lab/scripts"
dmesg >"$LAB_RUN/dmesg.log"
sync
exit 0
