package pmem

import "unsafe"

// Implemented in flush_amd64.s.

// cpuid executes CPUID with EAX=leaf, ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// flushCLWB, flushCLFLUSHOPT and flushCLFLUSH flush every 64-byte line
// overlapping [p, p+n); n > 0. They do not fence.
func flushCLWB(p unsafe.Pointer, n uintptr)
func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)
func flushCLFLUSH(p unsafe.Pointer, n uintptr)

// sfence executes SFENCE.
func sfence()

// CPUID feature bits (Intel SDM vol. 2A, CPUID).
const (
	cpuid1EDXCLFSH      = 1 << 19 // leaf 1, EDX: CLFLUSH
	cpuid7EBXCLFLUSHOPT = 1 << 23 // leaf 7 subleaf 0, EBX: CLFLUSHOPT
	cpuid7EBXCLWB       = 1 << 24 // leaf 7 subleaf 0, EBX: CLWB
)

// cpuFeatures are the flush-related CPUID bits.
type cpuFeatures struct {
	clflush, clflushopt, clwb bool
}

// probeCPU reads the CPUID bits once.
func probeCPU() cpuFeatures {
	var f cpuFeatures
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf >= 1 {
		_, _, _, edx := cpuid(1, 0)
		f.clflush = edx&cpuid1EDXCLFSH != 0
	}
	if maxLeaf >= 7 {
		_, ebx, _, _ := cpuid(7, 0)
		f.clflushopt = ebx&cpuid7EBXCLFLUSHOPT != 0
		f.clwb = ebx&cpuid7EBXCLWB != 0
	}
	return f
}

// chooseFlush picks the best instruction the CPU has.
func chooseFlush(f cpuFeatures) (name string, fn func(unsafe.Pointer, uintptr)) {
	switch {
	case f.clwb:
		return "clwb", flushCLWB
	case f.clflushopt:
		return "clflushopt", flushCLFLUSHOPT
	case f.clflush:
		return "clflush", flushCLFLUSH
	}
	return "", nil
}

// The flush is chosen once, at start-up.
var flushName, flushFn = chooseFlush(probeCPU())

func cpuFlushSupported() bool { return flushFn != nil }

func flushLines(p unsafe.Pointer, n uintptr) { flushFn(p, n) }

func storeFence() { sfence() }
