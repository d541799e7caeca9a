package alloc2m

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// load checks or initialises the meta keys and rebuilds the index.
func (s *Store) load(opts Options) error {
	if !s.readOnly {
		if err := s.vouch(opts); err != nil {
			return err
		}
	}
	m, err := s.readMeta()
	if err != nil {
		return err
	}
	if m.schema == nil && m.uuid == nil && m.frames == nil {
		return s.initialise(opts)
	}
	rec, err := s.adopt(m)
	if err != nil {
		return err
	}
	s.frames = rec.frames
	s.slots = rec.slots
	if !s.readOnly {
		s.frames, s.slots = opts.Frames, opts.Slots
	}
	if err := s.rebuild(rec.frames, rec.slots); err != nil {
		return err
	}
	if s.readOnly {
		return nil
	}
	return s.moveOn(opts, rec, m.haveIdent)
}

// storedMeta is the meta keys as Open finds them; a value is nil when its
// key is absent.
type storedMeta struct {
	schema, uuid, frames, slots []byte
	ident                       Identity
	haveIdent                   bool
}

// recorded is what an existing store's meta keys say.
type recorded struct {
	schema        uint32
	frames, slots uint64
}

// readMeta reads the meta keys, each checked for its size.
func (s *Store) readMeta() (m storedMeta, err error) {
	if m.schema, _, err = s.getMeta(keyMetaSchema, 4); err != nil {
		return m, err
	}
	if m.uuid, _, err = s.getMeta(keyMetaUUID, 16); err != nil {
		return m, err
	}
	if m.frames, _, err = s.getMeta(keyMetaFrames, 8); err != nil {
		return m, err
	}
	if m.slots, _, err = s.getMeta(keyMetaSlots, 8); err != nil {
		return m, err
	}
	m.ident, m.haveIdent, err = s.readIdentity()
	return m, err
}

// initialise writes the meta keys of a new store.
func (s *Store) initialise(opts Options) error {
	if s.readOnly {
		return fmt.Errorf("not initialised (no brick metadata): %w", ErrCorrupt)
	}
	if err := s.hasBlocks(); err != nil {
		return err
	}
	id, err := newStoreID()
	if err != nil {
		return err
	}
	s.ident = Identity{ID: id, Generation: 1}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte(keyMetaSchema), encodeU32(schemaVersion), nil)
	_ = b.Set([]byte(keyMetaUUID), opts.UUID[:], nil)
	_ = b.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), nil)
	_ = b.Set([]byte(keyMetaSlots), encodeU64(opts.Slots), nil)
	_ = b.Set([]byte(keyMetaStore), s.ident.ID[:], nil)
	_ = b.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("initialising: %w", err)
	}
	// A new store's first log was created before Pebble raised its
	// format, so it lacks the WAL sync chunks checkWALs needs to tell
	// damage from a torn tail. A flush starts the next one.
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("initialising: %w", err)
	}
	// And the generation moves on in that new log, as at every open:
	// losing the log then shows as a store that went back (Identity).
	s.ident.Generation++
	if err := s.db.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), pebble.Sync); err != nil {
		return fmt.Errorf("initialising: %w", err)
	}
	s.log.Info("alloc2m: new metadata store", "dir", s.dir, "uuid", fmtUUID(opts.UUID), "store", fmtUUID(s.ident.ID), "frames", opts.Frames, "slots", opts.Slots)
	s.uuid, s.frames, s.slots = opts.UUID, opts.Frames, opts.Slots
	s.mu.blocks = newIndex()
	s.mu.used = newFrameBitmap(opts.Frames)
	s.mu.slotsUsed = newFrameBitmap(opts.Slots)
	return nil
}

// adopt checks the meta keys of an existing store and takes its identity
// and region UUID from them.
func (s *Store) adopt(m storedMeta) (recorded, error) {
	var rec recorded
	if m.schema == nil || m.uuid == nil || m.frames == nil {
		return rec, fmt.Errorf("incomplete meta keys (schema %v, uuid %v, frames %v): %w", m.schema != nil, m.uuid != nil, m.frames != nil, ErrCorrupt)
	}
	rec.schema = binary.BigEndian.Uint32(m.schema)
	if rec.schema != schemaVersion && rec.schema != schemaV2 && rec.schema != schemaV1 {
		return rec, fmt.Errorf("schema version %d, this brick reads %d to %d: %w", rec.schema, schemaV1, schemaVersion, ErrCorrupt)
	}
	if rec.schema == schemaVersion && !m.haveIdent {
		return rec, fmt.Errorf("schema %d store without identity keys: %w", rec.schema, ErrCorrupt)
	}
	s.ident = m.ident
	copy(s.uuid[:], m.uuid)
	rec.frames = binary.BigEndian.Uint64(m.frames)
	if m.slots != nil { // a schema-1 store has no tier
		rec.slots = binary.BigEndian.Uint64(m.slots)
	}
	switch {
	case rec.frames == 0:
		return rec, fmt.Errorf("recorded frame count is zero: %w", ErrCorrupt)
	case s.readOnly && (rec.frames > maxCount || rec.slots > maxCount):
		// Only a read-only open sizes its bitmaps from these.
		return rec, fmt.Errorf("recorded geometry of %d frames and %d slots is past the limit of %d: %w", rec.frames, rec.slots, uint64(maxCount), ErrCorrupt)
	}
	return rec, nil
}

// moveOn upgrades the schema (before any version-2 record is written),
// gives an older store its identity, moves the generation on and records
// the geometry, in one synced batch.
func (s *Store) moveOn(opts Options, rec recorded, haveIdent bool) error {
	if !haveIdent {
		var err error
		if s.ident.ID, err = newStoreID(); err != nil {
			return err
		}
	}
	s.ident.Generation = max(s.ident.Generation, opts.Expect.Generation) + 1
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte(keyMetaSchema), encodeU32(schemaVersion), nil)
	_ = b.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), nil)
	_ = b.Set([]byte(keyMetaSlots), encodeU64(opts.Slots), nil)
	_ = b.Set([]byte(keyMetaStore), s.ident.ID[:], nil)
	_ = b.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("recording the schema version, generation and geometry: %w", err)
	}
	if rec.schema != schemaVersion {
		s.log.Info("alloc2m: metadata schema upgraded", "dir", s.dir, "from", rec.schema, "to", schemaVersion)
	}
	if rec.frames != opts.Frames {
		s.log.Info("alloc2m: pmem region resized", "dir", s.dir, "from_frames", rec.frames, "to_frames", opts.Frames)
	}
	if rec.slots != opts.Slots {
		s.log.Info("alloc2m: tier resized", "dir", s.dir, "from_slots", rec.slots, "to_slots", opts.Slots)
	}
	return nil
}

// hasBlocks returns ErrCorrupt if block records exist without meta keys.
func (s *Store) hasBlocks() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{blockPrefix}, UpperBound: []byte{blockPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.First() {
		return fmt.Errorf("block records without meta keys: %w", ErrCorrupt)
	}
	return it.Error()
}

// getMeta reads a meta key that must be exactly size bytes.
func (s *Store) getMeta(key string, size int) ([]byte, bool, error) {
	v, closer, err := s.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	defer closer.Close()
	if len(v) != size {
		return nil, false, fmt.Errorf("%s is %d bytes, want %d: %w", key, len(v), size, ErrCorrupt)
	}
	return append([]byte(nil), v...), true, nil
}

// rebuild reads every block record into the index, checking each location
// against the recorded geometry (storedFrames, storedSlots) and the current
// one (s.frames, s.slots).
func (s *Store) rebuild(storedFrames, storedSlots uint64) error {
	s.mu.blocks = newIndex()
	s.mu.used = newFrameBitmap(s.frames)
	s.mu.slotsUsed = newFrameBitmap(s.slots)
	spaces := map[LocKind]*space{
		InFrame: {noun: "frame", holder: "pmem region", stored: storedFrames, now: s.frames, used: s.mu.used, past: map[uint64]uint64{}},
		InSlot:  {noun: "slot", holder: "tier", stored: storedSlots, now: s.slots, used: s.mu.slotsUsed, past: map[uint64]uint64{}},
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{blockPrefix}, UpperBound: []byte{blockPrefix + 1}})
	if err != nil {
		return fmt.Errorf("scanning blocks: %w", err)
	}
	defer it.Close()
	var tooSmall error
	for it.First(); it.Valid(); it.Next() {
		id, err := decodeBlockKey(it.Key())
		if err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("reading block %#x: %w", id, err)
		}
		loc, flags, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("block %#x: %w", id, err)
		}
		if sp := spaces[loc.Kind]; sp != nil {
			beyond, err := sp.claim(id, loc.Index, s.mu.blocks)
			if err != nil {
				return err
			}
			if beyond {
				if tooSmall == nil {
					tooSmall = fmt.Errorf("%s has %d %ss but block %#x uses %s %d; it must not shrink below the %ss in use: %w",
						sp.holder, sp.now, sp.noun, id, sp.noun, loc.Index, sp.noun, ErrTooSmall)
				}
				continue
			}
		}
		r := record{loc: loc, flags: flags, unclean: flags&flagMarkedRW != 0}
		s.mu.blocks.load(id, r)
		s.mu.live++
		s.countLocked(&r, 1)
		if r.unclean {
			s.mu.unclean++
		}
	}
	s.mu.blocks.trim()
	if err := it.Error(); err != nil {
		return fmt.Errorf("scanning blocks: %w", err)
	}
	if tooSmall != nil {
		return tooSmall
	}
	// Unclean blocks are the caller's to report (Stats().Unclean): brickd
	// says what they mean and where to see them.
	return nil
}

// space is the frames or the slots while rebuild checks the records.
type space struct {
	noun, holder string
	stored, now  uint64
	used         *frameBitmap
	// past maps index → ID for indexes ≥ now: legal records on a region
	// or tier that shrank, reported as ErrTooSmall rather than ErrCorrupt.
	past map[uint64]uint64
}

// claim marks index i used by block id. beyond says it is past the current
// end (the caller reports ErrTooSmall); two claims on one index and an index
// past the recorded end are ErrCorrupt.
func (sp *space) claim(id, i uint64, blocks *index) (beyond bool, err error) {
	switch {
	case i >= sp.stored:
		return false, fmt.Errorf("block %#x claims %s %d, the store has %d %ss: %w", id, sp.noun, i, sp.stored, sp.noun, ErrCorrupt)
	case i >= sp.now:
		if other, dup := sp.past[i]; dup {
			return false, fmt.Errorf("blocks %#x and %#x both claim %s %d: %w", other, id, sp.noun, i, ErrCorrupt)
		}
		sp.past[i] = id
		return true, nil
	case !sp.used.set(i):
		var other uint64
		blocks.ascend(0, math.MaxUint64, func(k uint64, r *record) bool {
			if r.loc.Index == i && r.loc.Kind != Nowhere && (r.loc.Kind == InFrame) == (sp.noun == "frame") {
				other = k
				return false
			}
			return true
		})
		return false, fmt.Errorf("blocks %#x and %#x both claim %s %d: %w", other, id, sp.noun, i, ErrCorrupt)
	}
	return false, nil
}
