#!/bin/bash
# brickd on real DAX memory: the guest's emulated NVDIMM (QEMU,
# nvdimm-persistence=mem-ctrl) as a devdax namespace (/dev/daxX.Y) and as a
# file on ext4 mounted -o dax (fsdax, MAP_SYNC). For each: the persistence
# domain comes from the guest's own sysfs (region persistence_domain
# "memory_controller" = ADR), the brick flushes with CLWB or CLFLUSHOPT,
# `brickctl status` says so; a file put and read back byte-identical;
# kill -9 with a read-write map held, `list --meta` shows it unclean,
# restart on the same memory, and the file reads back.
set -uo pipefail
source "${LAB_LIB:-$(dirname "$0")/../lib-scenario.sh}"

TMP=${LAB_TMP:-$(mktemp -d)} OUT=${LAB_OUT:-$TMP}
T=120
failed=()
fail() {
  echo "[$kind] FAIL: $*"
  failed+=("$kind: $*")
}

echo "persistence_domain of each region:"
for r in /sys/bus/nd/devices/region*; do
  echo "  $(basename "$r"): $(cat "$r/persistence_domain" 2>/dev/null || echo missing)"
done
grep -o -w -E 'clwb|clflushopt' /proc/cpuinfo | sort -u | sed 's/^/  cpu has /'

ctl() { timeout -k 5 $T brickctl --addr "$addr" "$@" 2>>"$dir/brickctl.err"; }

start_brickd() {
  local size=()
  [[ $kind == fsdax ]] && size=(--pmem-size 256MiB) # devdax: the namespace's size
  brickd --pmem "$pmem" "${size[@]}" --meta "$dir/meta" --listen "$addr" \
    --metrics '' >>"$dir/brickd.log" 2>&1 &
  bpid=$!
  lab_wait_brickd "$addr" $bpid && return 0
  fail "brickd on $pmem did not come up: $(tail -n 3 "$dir/brickd.log")"
  return 1
}

run_on() { # kind pmem-path port
  kind=$1 pmem=$2 addr=tcp://127.0.0.1:$3
  dir=$TMP/$kind
  mkdir -p "$dir"
  echo "[$kind] brickd --pmem $pmem"
  start_brickd || return
  local st
  st=$(ctl status)
  echo "$st" | sed "s/^/[$kind] /"
  grep -q "^backend    $kind, cpu flush \(clwb\|clflushopt\)+sfence, persistent: true" <<<"$st" ||
    fail "status does not report $kind memory flushed with clwb or clflushopt"
  grep -q '^domain     memory_controller (ADR) (platform reports memory_controller (ADR))' <<<"$st" || fail "status does not report the ADR domain read from sysfs"
  grep -q 'persist methods:.*flush' <<<"$st" || fail "no persist method flush on DAX memory"

  head -c $((3 << 20)) /dev/urandom >"$dir/in"
  ctl put --alloc 0x200000 "$dir/in" >/dev/null || fail "put"
  ctl get --length $((3 << 20)) 0x200000 "$dir/out" >/dev/null && cmp -s "$dir/in" "$dir/out" ||
    fail "get is not byte-identical"

  lab_crash_holding "$addr" 0x400000 $bpid "$dir/hold.out" &&
    grep -q 'persist flush' "$dir/hold.out" || fail "map --rw: $(cat "$dir/hold.out")"
  local list
  list=$(timeout -k 5 $T brickctl list --meta "$dir/meta") || fail "list --meta after kill -9"
  echo "$list" | sed "s/^/[$kind] after kill -9: /"
  grep -q '^0x400000 .* unclean' <<<"$list" || fail "list --meta does not show the held block 0x400000 unclean"
  start_brickd || return
  ctl get --length $((3 << 20)) 0x200000 "$dir/after" >/dev/null && cmp -s "$dir/in" "$dir/after" ||
    fail "the file after kill -9 and restart"
  ctl status | grep '^blocks' | sed "s/^/[$kind] after restart: /"
  kill $bpid
  wait $bpid 2>/dev/null
  cp "$dir/brickd.log" "$OUT/$kind-brickd.log"
}

run_on devdax "${LAB_PMEM_DEVDAX:?}" 7701

mnt=$TMP/fsdax-mnt
mkdir -p "$mnt"
kind=fsdax
if mkfs.ext4 -F -q -b 4096 "${LAB_PMEM_FSDAX:?}" && mount -o dax "$LAB_PMEM_FSDAX" "$mnt"; then
  grep " $mnt " /proc/mounts
  run_on fsdax "$mnt/pmem.img" 7702
  umount "$mnt"
else
  fail "mkfs.ext4 or mount -o dax of $LAB_PMEM_FSDAX"
fi

if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "devdax and fsdax: pass"
