package ibverbs

import (
	"fmt"
	"os"
	"runtime"

	"github.com/brick-storage/brick/verbs"
)

// checkRegistrable refuses memory the NIC must not be given: anything in
// the Go heap or the binary's data. A registered region is DMA'd to and
// from for as long as it stays registered; the Go runtime moves nothing
// today but reuses and returns freed heap pages, so a region the caller
// forgot about would have the NIC write into someone else's objects.
//
// Accepted: page-aligned memory outside Go's allocator, which in brick is
// verbs.AllocMemory and pmem's mmap'd regions (files or anonymous). The
// Go-memory test asks the runtime itself: runtime.AddCleanup panics for a
// pointer outside every heap object and Go data, so a panic is the answer
// "not Go memory". Both ends of the buffer are checked.
func checkRegistrable(buf []byte) error {
	if len(buf) == 0 {
		return fmt.Errorf("%w: registering an empty buffer", verbs.ErrInvalid)
	}
	first, last := &buf[0], &buf[len(buf)-1]
	if p := uintptrOf(first); p%uintptr(os.Getpagesize()) != 0 {
		return fmt.Errorf("%w: buffer at %#x is not page-aligned; register memory from verbs.AllocMemory or an mmap'd region", verbs.ErrInvalid, p)
	}
	if isGoMemory(first) || isGoMemory(last) {
		return fmt.Errorf("%w: buffer at %#x is Go heap memory, which the NIC must never be given; use verbs.AllocMemory or an mmap'd region", verbs.ErrInvalid, uintptrOf(first))
	}
	return nil
}

// isGoMemory reports whether p points into a Go heap object or Go data.
func isGoMemory(p *byte) (goMem bool) {
	defer func() {
		if recover() != nil {
			goMem = false
		}
	}()
	c := runtime.AddCleanup(p, func(int) {}, 0)
	c.Stop()
	return true
}
