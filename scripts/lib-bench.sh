# lib-bench.sh: the loopback baselines that bench.sh and bench-net.sh both
# measure, and the process bookkeeping behind them. Sourced, not run; the
# script sets BENCH_NAME (the prefix of its messages), DURATION and
# UCX_ITERS, and creates $tmp before it measures anything.
# shellcheck shell=bash

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n "${tmp:-}" ]]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

# wait_listen PORT: poll until something listens on PORT (5 s).
wait_listen() {
  for _ in $(seq 100); do
    ss -ltnH "sport = :$1" | grep -q . && return 0
    sleep 0.05
  done
  echo "$BENCH_NAME: nothing listens on port $1" >&2
  exit 1
}

# iperf3_run PORT: one TCP stream over loopback for DURATION seconds; sets
# iperf_mbs to the MB/s (10^6 bytes) received, from the JSON's
# end.sum_received.
iperf3_run() {
  echo "== iperf3: one TCP stream over loopback, ${DURATION}s" >&2
  iperf3 -s -1 -p "$1" >"$tmp/iperf3-server.log" 2>&1 &
  pids+=($!)
  wait_listen "$1"
  iperf3 -c 127.0.0.1 -p "$1" -t "$DURATION" -J >"$tmp/iperf3.json"
  # shellcheck disable=SC2034 # read by the sourcing script
  iperf_mbs=$(awk '/"sum_received"/ {f=1} f && /"bits_per_second"/ {gsub(/[^0-9.e+]/, "", $2); printf "%.0f", $2/8e6; exit}' "$tmp/iperf3.json")
}

# ucx TEST PORT: overall bandwidth of a 2 MiB, 4-outstanding UCP test over
# UCX's TCP transport, in MB/s (ucx_perftest reports MiB/s).
ucx() {
  UCX_TLS=tcp UCX_NET_DEVICES=lo ucx_perftest -p "$2" >"$tmp/ucx-server-$1.log" 2>&1 &
  pids+=($!)
  wait_listen "$2"
  UCX_TLS=tcp UCX_NET_DEVICES=lo ucx_perftest 127.0.0.1 -p "$2" -t "$1" -s 2097152 -O 4 \
    -n "$UCX_ITERS" -w 20 -f >"$tmp/ucx-$1.log" 2>&1
  awk '$1 ~ /^[0-9]+$/ && NF >= 8 {v=$6} END {printf "%.0f", v*1.048576}' "$tmp/ucx-$1.log"
}
