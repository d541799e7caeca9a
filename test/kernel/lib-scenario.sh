# shellcheck shell=bash
# test/kernel/lib-scenario.sh: small helpers for lab scenarios (optional).
# In a scenario:  source "$LAB_LIB"
#
#   lab_check WHAT CMD...        run CMD; print "ok   WHAT" or "FAIL WHAT" and
#                                remember the failure
#   lab_wait_listen URL [SECS]   wait (default 30 s) until something listens
#                                on rdma://ADDR:PORT (an rdma_cm listener on
#                                ADDR or 0.0.0.0, seen with `rdma res show
#                                cm_id`) or tcp://ADDR:PORT (a TCP listener)
#   lab_rdma_dev_of ADDR PORT    the RDMA device of the rdma_cm listener bound
#                                to ADDR:PORT (e.g. rxe0 or siw0)
#   lab_wait_brickd URL PID      wait (up to 60 s) until the brickd PID answers
#                                `brickctl status` at URL; fails if it exits
#   lab_crash_holding URL ID PID OUT
#                                hold a read-write map of block ID of the
#                                brickd at URL (brickctl map --rw --hold,
#                                output in OUT), kill -9 that brickd (PID)
#                                with the map held; fails if the map never
#                                came up
#   lab_done                     exit 1 if a lab_check failed, else 0
lab_failed=0

lab_check() {
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    lab_failed=1
  fi
}

lab_rdma_dev_of() {
  rdma res show cm_id 2>/dev/null |
    awk -v a="src-addr $1:$2 " '/ LISTEN / && index($0 " ", a) && $1 == "link" {split($2, d, "/"); print d[1]; exit}'
}

# lab_rdma_listening ADDR PORT: an rdma_cm listener on ADDR:PORT or on the
# wildcard 0.0.0.0:PORT (ib_write_bw -R's server binds the wildcard).
lab_rdma_listening() {
  rdma res show cm_id 2>/dev/null | grep ' LISTEN ' | grep -qE "src-addr ($1|0\.0\.0\.0):$2 "
}

lab_wait_listen() {
  local url=$1 secs=${2:-30} scheme hostport host port i
  scheme=${url%%://*}
  hostport=${url#*://}
  host=${hostport%:*}
  port=${hostport##*:}
  for ((i = 0; i < secs * 5; i++)); do
    case $scheme in
    rdma) lab_rdma_listening "$host" "$port" && return 0 ;;
    tcp) ss -Hltn "src $host:$port" 2>/dev/null | grep -q . && return 0 ;;
    *)
      echo "lab_wait_listen: unknown scheme in $url" >&2
      return 2
      ;;
    esac
    sleep 0.2
  done
  echo "lab_wait_listen: nothing listens on $url after $secs s" >&2
  return 1
}

lab_done() {
  exit "$lab_failed"
}

lab_crash_holding() {
  local url=$1 id=$2 pid=$3 out=$4 hold i
  timeout -k 5 120 brickctl --addr "$url" map --rw --hold "$id" >"$out" 2>&1 &
  hold=$!
  for i in $(seq 240); do
    grep -q 'read-write' "$out" && break
    sleep 0.5
  done
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  kill "$hold" 2>/dev/null
  wait "$hold" 2>/dev/null
  grep -q 'read-write' "$out"
}

lab_wait_brickd() {
  local url=$1 pid=$2 i
  for i in $(seq 120); do
    timeout -k 5 60 brickctl --addr "$url" status >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}
