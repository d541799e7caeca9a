//go:build ibverbs && rdmacore45

package ibverbs

/*
#include "shim.h"

// FLUSH (IBTA 1.5), rdma-core >= 45 headers. Whether the provider library
// implements it is known only at run time: wr_flush is NULL otherwise.
static inline int brick_has_flush(struct ibv_qp_ex *qpx) {
	return qpx != NULL && qpx->wr_flush != NULL;
}

static inline int brick_post_flush(struct ibv_qp_ex *qpx, uint64_t wr_id, uint32_t rkey, uint64_t remote, size_t len) {
	if (!brick_has_flush(qpx)) {
		return EOPNOTSUPP;
	}
	ibv_wr_start(qpx);
	qpx->wr_id = wr_id;
	qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_flush(qpx, rkey, remote, len, IBV_FLUSH_PERSISTENT, IBV_FLUSH_RANGE);
	return ibv_wr_complete(qpx);
}
*/
import "C"

const (
	extFlush              = uint64(C.IBV_QP_EX_WITH_FLUSH)
	accessFlushPersistent = C.IBV_ACCESS_FLUSH_PERSISTENT
)

func flushAvailable(qpx *C.struct_ibv_qp_ex) bool { return C.brick_has_flush(qpx) != 0 }

func postFlush(qpx *C.struct_ibv_qp_ex, seq C.uint64_t, rkey C.uint32_t, remote C.uint64_t, n C.size_t) C.int {
	return C.brick_post_flush(qpx, seq, rkey, remote, n)
}
