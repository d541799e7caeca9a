package verbs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// AllocMemory returns n bytes of page-aligned anonymous memory outside the Go
// heap, suitable for registration on any provider (hardware providers must
// not pin Go heap memory, which the runtime may reuse). Free it with
// FreeMemory after deregistering it.
func AllocMemory(n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: memory size %d", ErrInvalid, n)
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("brick: allocate %d bytes of registrable memory: %w", n, err)
	}
	return b, nil
}

// FreeMemory releases memory from AllocMemory.
func FreeMemory(b []byte) error {
	if b == nil {
		return nil
	}
	return unix.Munmap(b)
}
