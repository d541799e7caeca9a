#!/usr/bin/env bash
# bench-net: the software RNIC against loopback baselines, in one run.
#
#   iperf3        one TCP stream over loopback                (throughput)
#   ucx_perftest  ucp_put_bw and ucp_get, UCX_TLS=tcp, 2 MiB, 4 outstanding
#   go test -bench ./test/bench: soft RNIC 2 MiB RDMA Write/Read at queue
#                 depth 4 and 16, 4 KiB Write+Read round trip, and a raw
#                 TCP 4 KiB ping-pong
#
# Prints a table with the ratios the RDMA issue sets as goals:
# soft/iperf3 >= 0.9 and soft/ucx >= 2. Needs iperf3, ucx-utils and ss
# (apt-get install iperf3 ucx-utils iproute2). Not part of make test.
#
# Environment: DURATION (iperf3 seconds, 5), BENCHTIME (go bench, 3s),
# UCX_ITERS (500), PORT_BASE (15200), CPUPROFILE (file: profile the soft
# RNIC's 2 MiB benchmarks into it).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
BENCHTIME=${BENCHTIME:-3s}
UCX_ITERS=${UCX_ITERS:-500}
PORT_BASE=${PORT_BASE:-15200}
GO=${GO:-go}

for tool in iperf3 ucx_perftest ss awk; do
  command -v "$tool" >/dev/null || { echo "bench-net: $tool is missing (apt-get install iperf3 ucx-utils iproute2)" >&2; exit 1; }
done

BENCH_NAME=bench-net
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh
tmp=$(mktemp -d)

iperf3_run "$PORT_BASE"
echo "== ucx_perftest ucp_put_bw, UCX_TLS=tcp" >&2
ucx_put=$(ucx ucp_put_bw $((PORT_BASE + 1)))
echo "== ucx_perftest ucp_get, UCX_TLS=tcp" >&2
ucx_get=$(ucx ucp_get $((PORT_BASE + 2)))

echo "== go test -bench ./test/bench (benchtime $BENCHTIME)" >&2
prof=()
[[ -n "${CPUPROFILE:-}" ]] && prof=(-cpuprofile "$CPUPROFILE")
$GO test -run '^$' -bench . -benchtime "$BENCHTIME" "${prof[@]}" ./test/bench/ | tee "$tmp/go.txt" >&2

# field NAME UNIT: the value before UNIT on benchmark NAME's line.
field() {
  awk -v name="Benchmark$1-" -v unit="$2" 'index($1, name) == 1 {for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1)}' "$tmp/go.txt"
}
w4=$(field SoftWrite2MiBQD4 MB/s)
r4=$(field SoftRead2MiBQD4 MB/s)
w16=$(field SoftWrite2MiBQD16 MB/s)
r16=$(field SoftRead2MiBQD16 MB/s)
rt50=$(field SoftWriteRead4KiB p50-µs)
rt99=$(field SoftWriteRead4KiB p99-µs)
tcp50=$(field TCPPingPong4KiB p50-µs)
tcp99=$(field TCPPingPong4KiB p99-µs)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN {if (r >= g) print "met"; else printf "MISSED by %.0f%%\n", (1 - r/g) * 100}'; }
row() { # name value baseline-name baseline goal
  local r
  r=$(ratio "$2" "$4")
  printf "| %-28s | %9s | %-22s | %9s | %5s | %-4s | %-15s |\n" "$1" "$2" "$3" "$4" "$r" "$5" "$(verdict "$r" "$5")"
}

echo
echo "Throughput, MB/s (10^6 bytes/s), one connection over loopback:"
echo
printf "| %-28s | %9s | %-22s | %9s | %5s | %-4s | %-15s |\n" "software RNIC" "MB/s" "baseline" "MB/s" "ratio" "goal" "verdict"
echo "|------------------------------|-----------|------------------------|-----------|-------|------|-----------------|"
row "RDMA Write 2 MiB, QD 4" "$w4" "iperf3 TCP" "$iperf_mbs" 0.9
row "RDMA Read 2 MiB, QD 4" "$r4" "iperf3 TCP" "$iperf_mbs" 0.9
row "RDMA Write 2 MiB, QD 16" "$w16" "iperf3 TCP" "$iperf_mbs" 0.9
row "RDMA Read 2 MiB, QD 16" "$r16" "iperf3 TCP" "$iperf_mbs" 0.9
row "RDMA Write 2 MiB, QD 4" "$w4" "ucx ucp_put_bw (tcp)" "$ucx_put" 2
row "RDMA Read 2 MiB, QD 4" "$r4" "ucx ucp_get (tcp)" "$ucx_get" 2
echo
echo "Latency of 4 KiB each way, µs:"
echo
echo "| operation                          | p50 | p99 |"
echo "|------------------------------------|-----|-----|"
printf "| soft RNIC 4 KiB Write + Read       | %s | %s |\n" "$rt50" "$rt99"
printf "| raw TCP 4 KiB ping-pong            | %s | %s |\n" "$tcp50" "$tcp99"
printf "| ratio (soft / TCP)                 | %s | %s |\n" "$(ratio "$rt50" "$tcp50")" "$(ratio "$rt99" "$tcp99")"
