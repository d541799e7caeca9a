//go:build linux

package pmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// anonRegion is volatile memory: MAP_ANONYMOUS|MAP_PRIVATE.
type anonRegion struct {
	mapping
}

var _ Region = (*anonRegion)(nil)

// NewAnonymous maps size bytes of anonymous memory, formatted in memory with
// a fresh UUID. Nothing survives Close or a crash; Persistent reports false.
func NewAnonymous(size int64) (Region, error) {
	if _, ok := checkFrameCount(size); !ok {
		return nil, fmt.Errorf("pmem: anonymous region of %d bytes: not a multiple of %d of at least 2 frames: %w", size, FrameSize, ErrInvalidSize)
	}
	if uint64(size) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("pmem: anonymous region of %d bytes does not fit the address space: %w", size, ErrInvalidSize)
	}
	data, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("pmem: mapping %d bytes of anonymous memory: %w", size, err)
	}
	sb, _, err := formatOrValidate(data, size, true)
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("pmem: anonymous region: %w", err)
	}
	r := &anonRegion{}
	r.mapping.data = data
	r.setSuperblock(sb)
	return r, nil
}

func (r *anonRegion) Kind() Kind       { return KindAnonymous }
func (r *anonRegion) Persistent() bool { return false }
func (r *anonRegion) Path() string     { return "" }

// Properties: volatile, nothing to flush.
func (r *anonRegion) Properties() Properties {
	return Properties{Kind: KindAnonymous, FlushMethod: FlushNone}
}

// Flush checks b lies in the region; there is nothing to make durable.
func (r *anonRegion) Flush(b []byte) error {
	_, err := r.pageRange(b)
	return err
}

// Bind records b in the in-memory superblock; nothing survives anyway.
func (r *anonRegion) Bind(b Binding) error {
	return r.bind(b, func([]byte) error { return nil })
}

func (r *anonRegion) Close() error { return r.unmap() }
