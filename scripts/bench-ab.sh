#!/usr/bin/env bash
# bench-ab: two revisions of brick against each other, round by round.
#
# Builds brickd and brickctl at revisions A and B, then for ROUNDS rounds
# runs each case against a fresh file-backed brickd of A, then of B:
#
#   ping      brickctl bench --ops ping --sessions 64: the messaging alone
#   control   brickctl bench --ops control --sessions 64: alloc, map rw,
#             free cycles (an older build's cycle also unmaps before free)
#   alloc-map brickctl bench --ops alloc-map --sessions 64: alloc-map rw,
#             free cycles (a build without it has no such case)
#   write     2 MiB RDMA Write, QD 4, one session
#   read      2 MiB RDMA Read, QD 4, one session
#
# and prints, per case and build, the rate and the CPU time brickd and
# brickctl spent per operation (brickd's from /proc/PID/stat, brickctl's
# from the shell's times of its child). On a shared 2-core VM whose speed
# moves by ±20% between minutes, a change worth a few percent shows only
# in CPU per operation over alternating rounds, never in one run's rate.
#
#   scripts/bench-ab.sh [A [B]]   (or A=… B=… in the environment; make
#                                  bench-ab A=… B=…): revisions, by default
#                                  HEAD~1 and the working tree
#
# Environment: ROUNDS (3), DURATION (seconds per case, 3), CASES (ping
# control write read), PORT (16280), GO, TAGS. Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
CASES=${CASES:-ping control write read}
PORT=${PORT:-16280}
GO=${GO:-go}
TAGS=${TAGS:-pebblegozstd}
A=${1:-${A:-HEAD~1}}
B=${2:-${B:-}}

tmp=$(mktemp -d)
bp=
cleanup() {
  if [[ -n $bp ]]; then kill "$bp" 2>/dev/null || true; fi
  for w in "$tmp"/src-*; do
    [[ -d $w ]] && git worktree remove --force "$w" >/dev/null 2>&1
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# build NAME REV: brickd and brickctl of REV (empty: the working tree)
# into $tmp/NAME.
build() {
  local src=.
  if [[ -n $2 ]]; then
    src=$tmp/src-$1
    git worktree add --detach --quiet "$src" "$2"
  fi
  (cd "$src" && $GO build -tags "$TAGS" -o "$tmp/$1/" ./cmd/brickd ./cmd/brickctl)
  echo "bench-ab: $1 is ${2:-the working tree} ($(cd "$src" && git rev-parse --short HEAD)$([[ -z $2 ]] && ! git diff --quiet HEAD && echo ', with changes'))" >&2
}
build A "$A"
build B "$B"

tick=$(getconf CLK_TCK)
addr=tcp://127.0.0.1:$PORT
export BRICK_NO_KEY_OK=1

# one BUILD CASE: one case against a fresh brickd of BUILD; prints a row.
one() {
  local bin=$tmp/$1 dir=$tmp/brick args row
  case $2 in
  ping) args=(--ops ping --sessions 64) row=ping ;;
  control | alloc-map) args=(--ops "$2" --sessions 64) row=cycle ;;
  write | read) args=(--ops "$2" --size 2MiB --qd 4) row=$2 ;;
  *) echo "bench-ab: unknown case $2" >&2; exit 2 ;;
  esac
  rm -rf "$dir" && mkdir -p "$dir"
  "$bin/brickd" --pmem "$dir/pmem.img" --meta "$dir/meta" --listen "$addr" \
    --pmem-backend file --pmem-size 1GiB >"$tmp/brickd.log" 2>&1 &
  bp=$!
  for _ in $(seq 100); do
    "$bin/brickctl" --addr "$addr" status >/dev/null 2>&1 && break
    sleep 0.1
  done
  local t0 t1 ct rc=0
  t0=$(awk '{print $14 + $15}' "/proc/$bp/stat")
  TIMEFORMAT='%U %S'
  ct=$({ time "$bin/brickctl" --addr "$addr" bench "${args[@]}" --duration "${DURATION}s" >"$tmp/out" 2>"$tmp/err"; } 2>&1) || rc=$?
  t1=$(awk '{print $14 + $15}' "/proc/$bp/stat")
  kill -TERM "$bp"
  wait "$bp" || true
  bp=
  rm -rf "$dir"
  if ((rc != 0)); then # an older brickctl may lack the case
    printf '%-8s %s  failed (exit %d): %s\n' "$2" "$1" "$rc" "$(tail -n 1 "$tmp/err")"
    return
  fi
  awk -v b="$1" -v c="$2" -v row="$row" -v d="$DURATION" -v bt=$((t1 - t0)) -v tick="$tick" -v ct="$ct" '
    $1 == row {
      # The size column of a data case is two fields ("2 MiB"), "-" of the others.
      split(ct, u, " "); data = (c == "write" || c == "read")
      ops = (data ? $6 : $5) * d
      rate = data ? sprintf("%s MiB/s", $7) : sprintf("%s/s", $5)
      printf "%-8s %s  %-14s brickd %6.1f µs/op  brickctl %6.1f µs/op\n", c, b, rate, bt / tick * 1e6 / ops, (u[1] + u[2]) * 1e6 / ops
    }' "$tmp/out"
}

for r in $(seq "$ROUNDS"); do
  echo "round $r"
  for c in $CASES; do
    one A "$c"
    one B "$c"
  done
done
