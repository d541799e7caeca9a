#!/usr/bin/env bash
# bench: brick through a real brickd, against baselines measured in the
# same run, and the goals table of issue 12 (docs/benchmarks.md, "Through
# brickd"). One run:
#
#   iperf3           one TCP stream over loopback
#   ucx_perftest     ucp_put_bw and ucp_get over UCX_TLS=tcp, 2 MiB, 4 outstanding
#   brick-bench      TCP 4 KiB ping-pong p50 and 64-byte request-reply at 64
#                    connections (server and client in two processes), raw
#                    Pebble synced commits at 64 goroutines with brick's
#                    options, msync of 4 KiB of the file-backed brick's image
#   brickctl bench   against brickd (file backend): 2 MiB Write/Read QD 4,
#                    4 KiB Write/Read/Write+persist QD 1, control cycles
#                    (alloc, map rw, free as three requests and as two:
#                    alloc-map) and ping round trips (the messaging under the verbs,
#                    compared with the request-reply baseline in a note) at
#                    64 sessions; against a second brickd (anonymous
#                    backend): 4 KiB Write+persist
#   brick-bench scale  SCALE_BLOCKS blocks: ready after restart, full list,
#                    RSS per block, list of SCALE_BLOCKS/2 extents, idle
#                    memory per session, SCALE_SESSIONS sessions served
#
# then prints the table and writes $BENCH_OUT/bench.json and bench.html.
#
# Environment: DURATION (seconds per measurement, 5), UCX_ITERS (500),
# PORT_BASE (15200), SCALE_BLOCKS (1000000; 0 skips scale), SCALE_SESSIONS
# (4096; the scale brick is a sparse file image, brickd --pmem-sparse), PROFILE (1: CPU, block and
# mutex profiles of brickd under the data and control cases, into
# $BENCH_OUT/profiles), BENCH_OUT (./var/bench), GO, TAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
UCX_ITERS=${UCX_ITERS:-500}
PORT_BASE=${PORT_BASE:-15200}
SCALE_BLOCKS=${SCALE_BLOCKS:-1000000}
SCALE_SESSIONS=${SCALE_SESSIONS:-4096}
PROFILE=${PROFILE:-0}
BENCH_OUT=${BENCH_OUT:-./var/bench}
GO=${GO:-go}
TAGS=${TAGS:-pebblegozstd}
started=$(date +%s)
BENCH_NAME="make bench"
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh

# Tools, installed like .ci/run does.
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v ucx_perftest >/dev/null || need+=(ucx-utils)
command -v ss >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "make bench: ${need[*]} missing; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi

echo "== build" >&2
$GO build -tags "$TAGS" -o bin/ ./cmd/brickd ./cmd/brickctl
$GO build -tags "$TAGS" -o bin/brick-bench ./test/bench/brickbench

mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
figs=$BENCH_OUT/figures
rm -rf "$figs" "$BENCH_OUT/profiles"
mkdir -p "$figs"
[[ $PROFILE == 1 ]] && mkdir -p "$BENCH_OUT/profiles"
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/brick-bench.XXXXXX")

# figure NAME VALUE FILE: a one-figure JSON file.
figure() { printf '{"values": {"%s": %s}}\n' "$1" "$2" >"$figs/$3.json"; }

iperf3_run "$PORT_BASE"
figure iperf3_mbs "$iperf_mbs" iperf3
echo "== ucx_perftest ucp_put_bw and ucp_get, UCX_TLS=tcp" >&2
figure ucx_put_bw_mbs "$(ucx ucp_put_bw $((PORT_BASE + 1)))" ucx-put
figure ucx_get_mbs "$(ucx ucp_get $((PORT_BASE + 2)))" ucx-get

echo "== TCP 4 KiB ping-pong and 64-byte request-reply at 64 connections (two processes)" >&2
bin/brick-bench tcp-server --listen "127.0.0.1:$((PORT_BASE + 3))" &
pids+=($!)
wait_listen $((PORT_BASE + 3))
bin/brick-bench pingpong --addr "127.0.0.1:$((PORT_BASE + 3))" --size 4096 --duration "${DURATION}s" --out "$figs/pingpong.json"
bin/brick-bench rr --addr "127.0.0.1:$((PORT_BASE + 3))" --size 64 --conns 64 --duration "${DURATION}s" --out "$figs/rr.json"

echo "== raw Pebble synced commits, 64 goroutines, brick's options" >&2
bin/brick-bench pebble --dir "$tmp/pebble" --goroutines 64 --duration "${DURATION}s" --out "$figs/pebble.json"
rm -rf "$tmp/pebble"

# brickd_start NAME PORT ARGS…: start brickd in $tmp/NAME, wait until it
# answers; sets brickd_pid and brick_addr.
brickd_start() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$tmp/$name"
  local prof=()
  [[ $PROFILE == 1 ]] && prof=(--pprof)
  bin/brickd --pmem "$tmp/$name/pmem.img" --meta "$tmp/$name/meta" --listen "tcp://127.0.0.1:$port" \
    --metrics "127.0.0.1:$((port + 1))" "${prof[@]}" "$@" >"$tmp/$name/brickd.log" 2>&1 &
  brickd_pid=$!
  pids+=($brickd_pid)
  brick_addr=tcp://127.0.0.1:$port
  metrics_addr=127.0.0.1:$((port + 1))
  for _ in $(seq 600); do
    bin/brickctl --addr "$brick_addr" status >/dev/null 2>&1 && return 0
    kill -0 "$brickd_pid" 2>/dev/null || { cat "$tmp/$name/brickd.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "make bench: brickd $name did not answer within 60 s" >&2
  exit 1
}

brickd_stop() {
  kill -TERM "$brickd_pid"
  wait "$brickd_pid" || true
}

# ctlbench OUT.json NAME CASES ARGS…: brickctl bench --json; with PROFILE=1
# brickd's CPU, block and mutex profiles over the CASES cases meanwhile.
ctlbench() {
  local out=$1 pname=$2 secs=$(( $3 * DURATION + 2 ))
  shift 3
  local ppids=()
  if [[ $PROFILE == 1 ]]; then
    for kind in profile block mutex; do
      curl -s -o "$BENCH_OUT/profiles/$pname.$kind.pprof" "http://$metrics_addr/debug/pprof/$kind?seconds=$secs" &
      ppids+=($!)
    done
  fi
  bin/brickctl --addr "$brick_addr" --json bench --duration "${DURATION}s" "$@" >"$out"
  for p in "${ppids[@]}"; do wait "$p" || true; done
}

echo "== brickctl bench against brickd, file backend (${DURATION}s per case)" >&2
brickd_start file $((PORT_BASE + 10)) --pmem-backend file --pmem-size 1GiB
ctlbench "$BENCH_OUT/brick-2m.json" data-2m 2 --ops write,read --size 2MiB --qd 4 --sessions 1
ctlbench "$BENCH_OUT/brick-4k.json" data-4k 5 --ops write,read,write+persist --size 4KiB --qd 1 --sessions 1
ctlbench "$BENCH_OUT/brick-control.json" control 2 --ops control,alloc-map --qd 1 --sessions 64
ctlbench "$BENCH_OUT/brick-ping.json" ping 1 --ops ping --qd 1 --sessions 64
brickd_stop

echo "== msync of 4 KiB of the same image" >&2
bin/brick-bench msync --image "$tmp/file/pmem.img" --duration "${DURATION}s" --out "$figs/msync.json"
rm -rf "$tmp/file"

echo "== brickctl bench against brickd, anonymous backend" >&2
brickd_start anon $((PORT_BASE + 20)) --pmem-backend anonymous --pmem-size 1GiB
ctlbench "$BENCH_OUT/anon-4k.json" anon-4k 1 --ops write+persist --size 4KiB --qd 1 --sessions 1
brickd_stop

if ((SCALE_BLOCKS > 0)); then
  echo "== scale: $SCALE_BLOCKS blocks, $SCALE_SESSIONS sessions" >&2
  # A file image of SCALE_BLOCKS × 2 MiB, kept sparse (brickd
  # --pmem-sparse, for tests and benchmarks only): no block is ever mapped,
  # so the metadata is all that takes disk space.
  mkdir -p "$tmp/scale"
  bin/brick-bench scale --brickd bin/brickd --brickctl bin/brickctl --backend file --brickd-arg=--pmem-sparse \
    --pmem "$tmp/scale/pmem.img" --meta "$tmp/scale/meta" --listen "tcp://127.0.0.1:$((PORT_BASE + 30))" \
    --blocks "$SCALE_BLOCKS" --sessions "$SCALE_SESSIONS" --log "$tmp/scale/brickd.log" --out "$figs/scale.json" || {
    echo "make bench: scale failed; brickd's log:" >&2
    tail -20 "$tmp/scale/brickd.log" >&2
    exit 1
  }
fi

elapsed=$(( $(date +%s) - started ))
machine="$(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), run took ${elapsed}s"
echo
bin/brick-bench report --figures "$figs" \
  --brick-report "$BENCH_OUT/brick-2m.json" --brick-report "$BENCH_OUT/brick-4k.json" --brick-report "$BENCH_OUT/brick-control.json" --brick-report "$BENCH_OUT/brick-ping.json" \
  --anon-report "$BENCH_OUT/anon-4k.json" \
  --machine "$machine" --json "$BENCH_OUT/bench.json" --html "$BENCH_OUT/bench.html"
echo
echo "$machine"
echo "written: $BENCH_OUT/bench.json, $BENCH_OUT/bench.html"
[[ $PROFILE == 1 ]] && echo "profiles: $BENCH_OUT/profiles (go tool pprof -top bin/brickd FILE)"
exit 0
