package pmem

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapping is what every mmap-backed region shares: the mapped bytes and the
// identity read from (or written to) the superblock.
type mapping struct {
	frames uint64
	uuid   [16]byte

	// data is the whole mapping, superblock frame included. It is set
	// before the region is returned and never changes; using a region
	// after Close is a caller bug (the pages are gone).
	data []byte

	mu struct {
		sync.Mutex
		// closed is set by the first Close.
		closed bool
		// sb is the decoded superblock; bind changes its binding.
		sb superblock
	}
}

// setSuperblock records the superblock read or written at open.
func (m *mapping) setSuperblock(sb superblock) {
	m.frames, m.uuid = sb.frames, sb.uuid
	m.mu.sb = sb
}

func (m *mapping) UUID() [16]byte { return m.uuid }
func (m *mapping) Frames() uint64 { return m.frames }

// Binding returns the metadata binding the superblock records; false for a
// version-1 superblock, which cannot record one.
func (m *mapping) Binding() (Binding, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.sb.binding, m.mu.sb.version >= superblockVersion
}

// bind records bd in the superblock, making each step durable with flush.
func (m *mapping) bind(bd Binding, flush func([]byte) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	return m.mu.sb.bind(m.data, bd, flush)
}

func (m *mapping) Frame(i uint64) []byte {
	if i >= m.frames {
		panic(fmt.Sprintf("pmem: frame %d out of range (region has %d data frames)", i, m.frames))
	}
	off := (i + 1) * FrameSize
	return m.data[off : off+FrameSize : off+FrameSize]
}

// DataSpan: the data frames follow the superblock frame in one mapping.
func (m *mapping) DataSpan() []byte {
	end := (m.frames + 1) * FrameSize
	return m.data[FrameSize:end:end]
}

// checkRange checks that b lies inside the mapping.
func (m *mapping) checkRange(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(m.data)) {
		return fmt.Errorf("pmem: flush of %d bytes at %#x, region spans [%#x, %#x): %w",
			len(b), p, base, base+uintptr(len(m.data)), ErrRange)
	}
	return nil
}

// pageRange returns the page-aligned sub-slice of the mapping covering b.
func (m *mapping) pageRange(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < base || p+uintptr(len(b)) > base+uintptr(len(m.data)) {
		return nil, fmt.Errorf("pmem: flush of %d bytes at %#x, region spans [%#x, %#x): %w",
			len(b), p, base, base+uintptr(len(m.data)), ErrRange)
	}
	page := uintptr(unix.Getpagesize())
	start := (p - base) &^ (page - 1)
	end := (p - base + uintptr(len(b)) + page - 1) &^ (page - 1)
	return m.data[start:end], nil
}

// unmap releases the mapping once.
func (m *mapping) unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return ErrClosed
	}
	m.mu.closed = true
	err := unix.Munmap(m.data)
	if err != nil {
		return fmt.Errorf("pmem: munmap: %w", err)
	}
	return nil
}
