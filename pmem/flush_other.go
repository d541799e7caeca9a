//go:build !amd64

package pmem

import "unsafe"

// Only amd64 has a user-space flush here; DAX backends refuse to open
// elsewhere (ErrNotSupported) rather than claim a persistence they cannot
// give. The power-fail simulator does not need the instructions.

const flushName = ""

func cpuFlushSupported() bool { return false }

func flushLines(p unsafe.Pointer, n uintptr) {}

func storeFence() {}
