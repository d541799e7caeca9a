// Package tier is the brick's slow tier: 2 MiB slots in one preallocated
// file on ordinary storage, where unmapped blocks go when pmem frames run
// short and come back from when they are mapped again.
//
// Why a single preallocated file: a slot must be durable before the
// metadata store names it (docs/design.md: a move copies and syncs, then commits
// the new location, then frees the old). With the file's blocks reserved up
// front (fallocate) a demotion never meets ENOSPC halfway, writing a slot is
// a pwrite and an fsync with no file-system metadata to allocate, and the
// slot count is fixed, so the metadata store can own the free-slot set the
// same way it owns free frames: whatever no block record names is free.
// This package knows nothing of blocks; it reads and writes slots.
//
// The file is HeaderSize bytes of header (see header.go) followed by the
// slots. The header carries the brick's UUID so a tier is never paired with
// another brick's metadata.
//
// All I/O goes through File, so tests can inject faults and simulate a
// crash that loses writes not yet synced.
package tier

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/brick-storage/brick/internal/imghdr"
)

// SlotSize is the size of a slot: one block.
const SlotSize = 2 << 20

// HeaderSize is the size of the header in front of the slots. It is a
// multiple of common page and sector sizes, so slots stay aligned.
const HeaderSize = 4096

// maxSlots keeps HeaderSize + slots*SlotSize within an int64.
const maxSlots = (math.MaxInt64 - HeaderSize) / SlotSize

// File is the tier file: the boundary between the tier and the operating
// system (osFile), or a test's fault-injecting or crashing file.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes every completed write durable.
	Sync() error
	// Size is the file's length in bytes.
	Size() (int64, error)
	// Allocate extends the file to size bytes with the space reserved,
	// so that writes within it cannot fail for lack of space.
	Allocate(size int64) error
	Close() error
}

// Options configures Open.
type Options struct {
	// Size is the bytes of slots for a new tier: a positive multiple of
	// SlotSize (the file is HeaderSize larger). Zero means use the existing
	// file's; an existing file with a different non-zero Size is refused
	// with imghdr.ErrGeometry (resizing a tier is not supported).
	Size int64
	// UUID is the brick's identity, written into a new tier's header and
	// required of an existing one (ErrUUIDMismatch).
	UUID [16]byte
	// OpenFile opens or creates the file; nil means the operating
	// system's (OpenOSFile).
	OpenFile func(path string) (File, error)
}

// Store is an open tier. Read and Write may be called concurrently, on
// different slots; the caller (the metadata store's reservations) ensures
// no two writers share a slot.
type Store struct {
	path  string
	slots uint64
	uuid  [16]byte

	mu struct {
		sync.RWMutex // read-held by I/O, write-held by Close
		f            File
	}
}

// Open opens the tier file at path, creating and preallocating it if it
// does not exist (or has never been formatted).
func Open(path string, opts Options) (*Store, error) {
	if opts.Size < 0 || opts.Size%SlotSize != 0 || opts.Size/SlotSize > maxSlots {
		return nil, fmt.Errorf("tier %s: size %d is not a multiple of %d bytes: %w", path, opts.Size, SlotSize, ErrInvalidSize)
	}
	open := opts.OpenFile
	if open == nil {
		open = OpenOSFile
	}
	f, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("tier: opening %s: %w", path, err)
	}
	s, err := load(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func load(f File, path string, opts Options) (*Store, error) {
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("tier: size of %s: %w", path, err)
	}
	var h header
	zero := true
	if size > 0 {
		buf := make([]byte, HeaderSize)
		if n, err := f.ReadAt(buf, 0); err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			return nil, fmt.Errorf("tier: reading the header of %s: %w", path, err)
		}
		if h, zero, err = unmarshalHeader(buf); err != nil {
			return nil, fmt.Errorf("tier file %s: %w", path, err)
		}
	}
	if zero {
		want := opts.Size
		if want == 0 {
			want = size - HeaderSize
			want -= want % SlotSize
		}
		if want <= 0 {
			return nil, fmt.Errorf("tier file %s is new and no tier size was given: %w", path, ErrInvalidSize)
		}
		h = header{slots: uint64(want / SlotSize), uuid: opts.UUID}
		if err := format(f, h); err != nil {
			return nil, fmt.Errorf("tier: creating %s: %w", path, err)
		}
		size = HeaderSize + want
	}
	switch {
	case h.uuid != opts.UUID:
		return nil, fmt.Errorf("tier file %s belongs to brick %x, this brick is %x; refusing to use it: %w", path, h.uuid, opts.UUID, ErrUUIDMismatch)
	case opts.Size != 0 && uint64(opts.Size/SlotSize) != h.slots:
		return nil, fmt.Errorf("tier file %s has %d slots (%d bytes), configured size is %d bytes; resizing a tier is not supported: %w",
			path, h.slots, h.slots*SlotSize, opts.Size, imghdr.ErrGeometry)
	case size < HeaderSize+int64(h.slots)*SlotSize:
		return nil, fmt.Errorf("tier file %s is %d bytes, its %d slots need %d: %w", path, size, h.slots, HeaderSize+int64(h.slots)*SlotSize, imghdr.ErrGeometry)
	}
	s := &Store{path: path, slots: h.slots, uuid: h.uuid}
	s.mu.f = f
	return s, nil
}

// format reserves the file's space, then writes and syncs the header: a
// crash before the header is durable leaves an unformatted file that the
// next open formats again.
func format(f File, h header) error {
	if err := f.Allocate(HeaderSize + int64(h.slots)*SlotSize); err != nil {
		return err
	}
	if _, err := f.WriteAt(h.marshal(), 0); err != nil {
		return fmt.Errorf("writing the header: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the header: %w", err)
	}
	return nil
}

// Slots is the number of slots.
func (s *Store) Slots() uint64 { return s.slots }

// UUID is the brick identity in the header.
func (s *Store) UUID() [16]byte { return s.uuid }

// Path is the tier file.
func (s *Store) Path() string { return s.path }

// Bytes is the slots' capacity in bytes.
func (s *Store) Bytes() int64 { return int64(s.slots) * SlotSize }

func (s *Store) check(slot uint64, p []byte) error {
	if slot >= s.slots {
		return fmt.Errorf("slot %d of %d: %w", slot, s.slots, ErrRange)
	}
	if len(p) != SlotSize {
		return fmt.Errorf("buffer of %d bytes for slot %d, want %d: %w", len(p), slot, SlotSize, ErrRange)
	}
	return nil
}

func offset(slot uint64) int64 { return HeaderSize + int64(slot)*SlotSize }

// Write stores p (SlotSize bytes) in slot and makes it durable before
// returning: the caller may then commit a reference to the slot.
func (s *Store) Write(slot uint64, p []byte) error {
	if err := s.check(slot, p); err != nil {
		return fmt.Errorf("tier: write: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.f == nil {
		return fmt.Errorf("tier: write slot %d: %w", slot, ErrClosed)
	}
	if _, err := s.mu.f.WriteAt(p, offset(slot)); err != nil {
		return fmt.Errorf("tier: writing slot %d of %s: %w", slot, s.path, err)
	}
	if err := s.mu.f.Sync(); err != nil {
		return fmt.Errorf("tier: syncing slot %d of %s: %w", slot, s.path, err)
	}
	return nil
}

// Read fills p (SlotSize bytes) from slot.
func (s *Store) Read(slot uint64, p []byte) error {
	if err := s.check(slot, p); err != nil {
		return fmt.Errorf("tier: read: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.f == nil {
		return fmt.Errorf("tier: read slot %d: %w", slot, ErrClosed)
	}
	if n, err := s.mu.f.ReadAt(p, offset(slot)); n != len(p) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("tier: reading slot %d of %s: %w", slot, s.path, err)
	}
	return nil
}

// Close closes the file after I/O in flight.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.f == nil {
		return ErrClosed
	}
	err := s.mu.f.Close()
	s.mu.f = nil
	if err != nil {
		return fmt.Errorf("tier: closing %s: %w", s.path, err)
	}
	return nil
}
