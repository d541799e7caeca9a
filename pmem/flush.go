package pmem

import (
	"fmt"
	"unsafe"
)

// CacheLineSize is the granularity of CPU cache flushes.
const CacheLineSize = 64

// CPUFlush writes back the cache lines covering b to the memory controller
// and fences (CLWB, else CLFLUSHOPT, else CLFLUSH, then SFENCE; chosen once
// from CPUID). With memory in an ADR domain the bytes are then persistent.
// It returns an error wrapping ErrNotSupported where no flush instruction is
// available (other architectures). An empty b only fences.
func CPUFlush(b []byte) error {
	if !cpuFlushSupported() {
		return fmt.Errorf("pmem: user-space cache flush is not implemented on this CPU: %w", ErrNotSupported)
	}
	if len(b) > 0 {
		flushLines(unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)))
	}
	storeFence()
	return nil
}

// Fence orders earlier stores and flushes before later stores (SFENCE). On
// eADR platforms it is all a flush needs. A no-op where unsupported.
func Fence() {
	if cpuFlushSupported() {
		storeFence()
	}
}

// CPUFlushInstruction names the instruction CPUFlush uses: "clwb",
// "clflushopt", "clflush", or "" when unsupported.
func CPUFlushInstruction() string { return flushName }
