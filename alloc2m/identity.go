package alloc2m

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Identity names a metadata store and how far it has come, as the pmem
// superblock records it (pmem.Binding): the two halves of a brick vouch for
// each other, so a store that is missing, empty, another one, or rolled
// back is refused instead of taken for a new brick.
//
// ID is random, fixed when the store is created. Generation moves on by
// one at every writable Open and every Advance; the caller records the new
// value in the superblock after the store has made it durable, so after a
// crash between the two the store is ahead by one, which Open accepts.
//
// The generation is deliberately coarse: it moves at open and at a clean
// stop, never per verb, so it costs no superblock write on the data path.
// What it catches: a store restored from a copy taken before the last start
// or the last clean stop, a lost or recreated store, and an image restored
// from an older copy. What it cannot catch: a copy of the store taken
// during the current run (after the last start) and restored after a crash
// — that needs a per-commit record in the image, which is the cost avoided.
type Identity struct {
	ID         [16]byte
	Generation uint64
}

// Bound reports whether the identity names a store (a zero ID does not).
func (id Identity) Bound() bool { return id.ID != [16]byte{} }

// Exists reports whether dir holds a Pebble store, reading only: brickd
// asks before it creates or formats anything, so that neither half of a
// brick is recreated next to the other.
func Exists(dir string) (bool, error) { return exists(vfs.Default, dir) }

func exists(fsys vfs.FS, dir string) (bool, error) {
	if _, err := fsys.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("alloc2m: metadata directory %s: %w", dir, err)
	}
	desc, err := pebble.Peek(dir, fsys)
	if err != nil {
		return false, fmt.Errorf("alloc2m: looking for a metadata store in %s: %w", dir, err)
	}
	return desc.Exists, nil
}

// newStoreID returns a random store ID.
func newStoreID() ([16]byte, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("generating the store ID: %w", err)
	}
	return u, nil
}

// vouch opens the existing store in dir read-only and checks that it is
// the one opts describes (Store.vouch), writing nothing.
func vouch(dir string, fsys vfs.FS, lock *pebble.Lock, log pebble.Logger, opts Options) error {
	db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Lock: lock, Logger: log, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("alloc2m: opening metadata store %s: %w", dir, err)
	}
	defer db.Close()
	s := &Store{db: db, dir: dir, readOnly: true}
	return s.vouch(opts)
}

// vouch checks the keys that say whose store this is: a store with no
// brick metadata only where no store is expected, the region's UUID, and
// the identity the superblock expects.
func (s *Store) vouch(opts Options) error {
	_, haveSchema, err := s.getMeta(keyMetaSchema, 4)
	if err != nil {
		return err
	}
	uuid, haveUUID, err := s.getMeta(keyMetaUUID, 16)
	if err != nil {
		return err
	}
	_, haveFrames, err := s.getMeta(keyMetaFrames, 8)
	if err != nil {
		return err
	}
	if !haveSchema && !haveUUID && !haveFrames {
		if opts.Expect.Bound() {
			return fmt.Errorf("metadata store %s holds no brick metadata, but the pmem image records store %s at generation %d (the store's log was lost, or the directory recreated): %w",
				s.dir, fmtUUID(opts.Expect.ID), opts.Expect.Generation, ErrNoMetadata)
		}
		return nil
	}
	if haveUUID && [16]byte(uuid) != opts.UUID {
		return fmt.Errorf("metadata in %s belongs to brick %s, pmem region is brick %s; refusing to start: %w",
			s.dir, fmtUUID([16]byte(uuid)), fmtUUID(opts.UUID), ErrUUIDMismatch)
	}
	ident, have, err := s.readIdentity()
	if err != nil {
		return err
	}
	return s.checkExpected(ident, have, opts.Expect)
}

// checkExpected compares the store's recorded identity (have: whether it
// records one) with what the superblock expects.
func (s *Store) checkExpected(got Identity, have bool, want Identity) error {
	switch {
	case !want.Bound():
		return nil
	case !have:
		return fmt.Errorf("metadata store %s records no identity (an older brickd wrote it), but the pmem image records store %s: %w",
			s.dir, fmtUUID(want.ID), ErrStoreMismatch)
	case got.ID != want.ID:
		return fmt.Errorf("metadata store %s is store %s, but the pmem image records store %s: %w",
			s.dir, fmtUUID(got.ID), fmtUUID(want.ID), ErrStoreMismatch)
	case got.Generation < want.Generation:
		return fmt.Errorf("metadata store %s is at generation %d and the pmem image at %d, so the metadata is older than the image (restored from an older copy, or its newest log lost): %w",
			s.dir, got.Generation, want.Generation, ErrRolledBack)
	case got.Generation > want.Generation+1:
		return fmt.Errorf("the pmem image records generation %d and metadata store %s is at %d, so the image is older than the metadata (restored from an older copy): %w",
			want.Generation, s.dir, got.Generation, ErrRolledBack)
	}
	return nil
}

// readIdentity reads the identity keys; have is false for a store written
// before schema 3.
func (s *Store) readIdentity() (id Identity, have bool, err error) {
	store, haveStore, err := s.getMeta(keyMetaStore, 16)
	if err != nil {
		return id, false, err
	}
	gen, haveGen, err := s.getMeta(keyMetaGen, 8)
	if err != nil {
		return id, false, err
	}
	if haveStore != haveGen {
		return id, false, fmt.Errorf("incomplete identity keys (store %v, generation %v): %w", haveStore, haveGen, ErrCorrupt)
	}
	if haveStore {
		copy(id.ID[:], store)
		id.Generation = binary.BigEndian.Uint64(gen)
	}
	return id, haveStore, nil
}

// Identity returns the store's identity as of its last Open or Advance:
// what the pmem superblock must record.
func (s *Store) Identity() Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident
}

// Advance moves the generation on by one, durably, and returns the new
// identity for the caller to record in the pmem superblock. brickd calls it
// when it stops cleanly, so a copy of the store taken while it ran is
// refused after the stop. Not for concurrent use with itself.
func (s *Store) Advance() (Identity, error) {
	s.mu.Lock()
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return Identity{}, fmt.Errorf("advance the generation: %w", err)
	}
	next := s.ident
	next.Generation++
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	if err := s.commit([]byte(keyMetaGen), encodeU64(next.Generation), pebble.Sync); err != nil {
		return Identity{}, fmt.Errorf("advance the generation: %w", err)
	}
	s.mu.Lock()
	s.ident = next
	s.mu.Unlock()
	return next, nil
}
