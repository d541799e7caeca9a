//go:build ibverbs && !rdmacore45

package ibverbs

/*
#include "shim.h"
*/
import "C"

// rdma-core < 45 headers have no FLUSH: it is compiled out, and
// Caps().Flush is false whatever the device offers.
const (
	extFlush              = uint64(0)
	accessFlushPersistent = 0
)

func flushAvailable(*C.struct_ibv_qp_ex) bool { return false }

func postFlush(*C.struct_ibv_qp_ex, C.uint64_t, C.uint32_t, C.uint64_t, C.size_t) C.int {
	return C.EOPNOTSUPP
}
