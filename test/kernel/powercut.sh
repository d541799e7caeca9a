#!/bin/bash
# test/kernel/powercut.sh [CYCLES]: the power-cut torture, in the lab guest:
#
#   test/kernel/run test/kernel/powercut.sh 50      (make torture-powercut)
#
# brickd (file backend) keeps its pmem image and metadata on ext4 on
# dm-flakey on a loop device. Each cycle: `brick-torture work` runs with its
# log in /tmp (tmpfs, off the flakey disk); at a random moment the disk loses
# power: brickd is frozen (SIGSTOP: it acknowledges nothing after the cut),
# the flakey table is reloaded with drop_writes (every write from then on is
# silently lost, the method of bbolt's power-failure tests), brickd is
# killed, the file system unmounted (its last writes go nowhere), the table
# reloaded to pass writes, ext4 mounted again (it replays its journal from
# what reached the disk), brickd restarted, and `brick-torture verify` checks
# every acknowledged alloc, free and persisted write. A kill -9 leaves the
# page cache, so it proves only the brick's commit ordering; this proves its
# writes were durable when acknowledged.
#
# Needs brick-torture, brickd and brickctl on PATH (test/kernel/run builds
# them), dmsetup, losetup, mkfs.ext4 and the dm_flakey module. CYCLES
# defaults to $POWERCUT_CYCLES, else 50; POWERCUT_SEED repeats a run's
# seeds, POWERCUT_BLOCKS (default 16) sets how many blocks it works on.
set -uo pipefail

cycles=${1:-${POWERCUT_CYCLES:-50}}
seed=${POWERCUT_SEED:-$(date +%s)}
blocks=${POWERCUT_BLOCKS:-16}
TMP=${LAB_TMP:-$(mktemp -d)} OUT=${LAB_OUT:-$TMP}
T=300 # bound on every step that waits for something
name=brick-powercut
mnt=$TMP/mnt
log=$TMP/torture.log
blog=$TMP/brickd.log
addr=tcp://127.0.0.1:7741
# No udev in the guest: dmsetup makes /dev/mapper nodes itself and waits for
# no udev event.
export DM_DISABLE_UDEV=1

say() { echo "powercut: $*"; }
die() {
  say "FAIL: $*"
  [[ -f $blog ]] && { echo "--- last lines of brickd's log"; tail -n 15 "$blog"; }
  exit 1
}

for tool in brick-torture brickd brickctl dmsetup losetup mkfs.ext4; do
  command -v $tool >/dev/null || die "$tool is not on PATH (test/kernel/run builds brick-torture with brickd and brickctl)"
done
[[ $cycles =~ ^[1-9][0-9]*$ ]] || die "CYCLES must be a positive number, not '$cycles'"

bpid= wpid= loop=
cleanup() {
  [[ -n $wpid ]] && kill -9 "$wpid" 2>/dev/null
  [[ -n $bpid ]] && kill -9 "$bpid" 2>/dev/null
  wait 2>/dev/null
  mountpoint -q "$mnt" && umount "$mnt"
  dmsetup remove "$name" 2>/dev/null
  [[ -n $loop ]] && losetup -d "$loop"
  # brickd's log and the operation log, for a look after the guest is gone.
  [[ -d $OUT && $OUT != "$TMP" ]] && cp "$blog" "$log" "$OUT/" 2>/dev/null
}
trap cleanup EXIT

# --- the disk: a sparse file in /tmp, a loop device, dm-flakey, ext4 --------
modprobe dm_flakey 2>/dev/null || ${LAB_MODPROBE:-modprobe} dm_flakey || die "cannot load dm_flakey"
modprobe loop 2>/dev/null || ${LAB_MODPROBE:-modprobe} loop 2>/dev/null || true
truncate -s 1G "$TMP/disk.img" || die "cannot create $TMP/disk.img"
loop=$(losetup -f --show "$TMP/disk.img") || die "losetup of $TMP/disk.img"
sectors=$(blockdev --getsz "$loop") || die "blockdev --getsz $loop"
# flakey: <dev> <offset> <up seconds> <down seconds> [<#features> <features>]
up="0 $sectors flakey $loop 0 86400 0"
cut="0 $sectors flakey $loop 0 0 86400 1 drop_writes"
dmsetup create "$name" --table "$up" || die "dmsetup create $name"
disk=/dev/mapper/$name
[[ -b $disk ]] || die "$disk did not appear"
mkfs.ext4 -F -q "$disk" || die "mkfs.ext4 $disk"
mkdir -p "$mnt"
mount "$disk" "$mnt" || die "mount $disk"

# reload TABLE: swap the flakey table. --nolockfs: without it, suspending
# would freeze ext4 and write back every dirty page first, which is the
# opposite of a power cut.
reload() {
  dmsetup suspend --nolockfs "$name" && dmsetup load "$name" --table "$1" && dmsetup resume "$name"
}

# cut_and_restore: power off the disk, unmount, power on, mount.
cut_and_restore() {
  reload "$cut" || die "cannot load the drop_writes table"
  [[ -z ${1:-} ]] || "$@"
  umount "$mnt" || die "umount $mnt"
  # Nothing read back may come from a cache that outlived the cut.
  echo 3 >/proc/sys/vm/drop_caches
  reload "$up" || die "cannot load the pass-through table"
  mount "$disk" "$mnt" || die "mount $disk after the cut"
}

start_brickd() {
  brickd --pmem "$mnt/pmem.img" --pmem-size 256MiB --meta "$mnt/meta" --listen "$addr" \
    --metrics '' >>"$blog" 2>&1 &
  bpid=$!
  local i
  for ((i = 0; i < T * 2; i++)); do
    timeout -k 5 30 brickctl --addr "$addr" status >/dev/null 2>&1 && return 0
    kill -0 "$bpid" 2>/dev/null || die "brickd exited at start"
    sleep 0.5
  done
  die "brickd did not answer within $T s"
}

# stop_work, with the disk cut: kill brickd, and work must see it go.
stop_work() {
  kill -9 "$bpid"
  wait "$bpid" 2>/dev/null
  bpid=
  timeout $T tail --pid="$wpid" -f /dev/null || die "cycle $c: work did not notice brickd's death within $T s"
  # 0: the brick went away mid-run; 3: before work could connect.
  wait "$wpid"
  local rc=$?
  ((rc == 0 || rc == 3)) || die "cycle $c: work failed (exit $rc): $(cat "$TMP/work.out")"
  wpid=
}

# ms N: sleep N milliseconds.
ms() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

say "seed $seed, $cycles cycles, $blocks blocks; disk $disk on $loop, log $log"
# The control: a cut keeps what was synced and loses what was not, or this
# torture would prove nothing.
echo synced >"$mnt/control.synced" && sync "$mnt/control.synced"
head -c 4M /dev/urandom >"$mnt/control.unsynced"
cut_and_restore
[[ $(cat "$mnt/control.synced" 2>/dev/null) == synced ]] || die "control: a synced file did not survive the cut"
[[ ! -s $mnt/control.unsynced ]] || die "control: a file never synced survived the cut: the cut drops nothing"
rm -f "$mnt"/control.*
say "control: the cut kept a synced file and lost an unsynced one"
start_brickd
t0=$SECONDS
for ((c = 1; c <= cycles; c++)); do
  brick-torture work --addr "$addr" --log "$log" --seconds 3600 --blocks "$blocks" \
    --seed $((seed + c)) >"$TMP/work.out" 2>&1 &
  wpid=$!
  # Under TCG a Go program takes seconds to start: most cuts come at a
  # random moment after work has logged its first operation, one in eight
  # at any moment from its start (in its dials, or before).
  if ((RANDOM % 8)); then
    for ((i = 0; i < T * 10; i++)); do
      [[ -f $log ]] && break # the first work run creates it
      sleep 0.1
    done
    size=$(stat -c %s "$log" 2>/dev/null || echo 0)
    for ((i = 0; i < T * 10; i++)); do
      (($(stat -c %s "$log" 2>/dev/null || echo 0) > size)) && break
      kill -0 "$wpid" 2>/dev/null || break
      sleep 0.1
    done
    delay=$((RANDOM % 12000))
  else
    delay=$((RANDOM % 3000))
  fi
  ms $delay
  kill -0 "$wpid" 2>/dev/null || { wait "$wpid"; die "cycle $c: work stopped before the cut: $(cat "$TMP/work.out")"; }

  # The power cut: brickd frozen first, so that it acknowledges nothing
  # after it.
  kill -STOP "$bpid"
  cut_and_restore stop_work
  start_brickd
  timeout -k 5 $T brick-torture verify --addr "$addr" --log "$log" >"$TMP/verify.out" 2>&1 ||
    { cat "$TMP/verify.out"; die "cycle $c (cut $delay ms in): verify failed"; }
  say "cycle $c/$cycles: cut $delay ms in; $(tail -n 1 "$TMP/work.out" | sed 's/^work: //'); $(grep '^verify:' "$TMP/verify.out" | sed 's/^verify: //')"
done
kill -TERM "$bpid"
wait "$bpid" || die "brickd did not stop cleanly after the last cycle"
bpid=
say "$cycles cycles in $((SECONDS - t0)) s"
brick-torture summary --log "$log" --name "power-cut torture" || die "summary"
