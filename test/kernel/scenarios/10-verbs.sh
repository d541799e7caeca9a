#!/bin/bash
# The verbs conformance suite (verbs/verbstest) on the kernel's RDMA
# devices through the ibverbs provider: on rxe and on siw, both ends in one
# process. Then the same suite across providers: the software RNIC against
# siw, each dialing the other (RDMA Write, Read, Send, Send with
# Invalidate where both offer it, and Terminate: bad, out-of-range and
# wrong-right STags, with what each side reports).
set -uo pipefail
T=${T:-600}
rc=0
suite() { # name env...
  local name=$1
  shift
  echo "=== verbs: $name"
  if env "$@" timeout -k 10 $T ibverbs.test -test.v -test.count=1 -test.timeout $((T - 10))s \
    -test.run "${RUN:?}" >"$LAB_OUT/$name.log" 2>&1; then
    grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok)' "$LAB_OUT/$name.log" | grep -v '=== RUN' | tail -n 60
    echo "=== verbs: $name: pass"
  else
    tail -n 80 "$LAB_OUT/$name.log"
    echo "=== verbs: $name: FAIL"
    rc=1
  fi
}
RUN='^TestConformance$' suite conformance-rxe BRICK_RDMA_TEST_ADDR="${LAB_RXE_ADDR:?}:0"
RUN='^TestConformance$' suite conformance-siw BRICK_RDMA_TEST_ADDR="${LAB_SIW_ADDR:?}:0"
RUN='^TestCrossSoft$' suite cross-soft-siw BRICK_RDMA_CROSS_ADDR="$LAB_SIW_ADDR:0"
exit $rc
