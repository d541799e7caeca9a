package alloc2m

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ReserveFrame takes the lowest free frame for a Place or Relocate the
// caller is about to make. The caller owes either that call or Release.
// ErrNoSpace: every frame holds a block or is reserved.
func (s *Store) ReserveFrame() (uint64, error) {
	return s.reserve(InFrame)
}

// ReserveSlot takes the lowest free tier slot, as ReserveFrame does a frame.
func (s *Store) ReserveSlot() (uint64, error) {
	return s.reserve(InSlot)
}

func (s *Store) reserve(kind LocKind) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return 0, fmt.Errorf("reserve a %v: %w", kind, err)
	}
	if kind == InFrame {
		f, _, err := s.reserveFrameLocked(false)
		return f, err
	}
	i, ok := s.mu.slotsUsed.take()
	if !ok {
		if s.slots == 0 {
			return 0, fmt.Errorf("reserve a tier slot: the brick has no tier: %w", ErrNoSpace)
		}
		return 0, fmt.Errorf("reserve a %v: all %d are in use: %w", kind, s.slots, ErrNoSpace)
	}
	return i, nil
}

// Release returns a location reserved with ReserveFrame or ReserveSlot (or
// handed back by Relocate with keepOld) that the caller will not use.
func (s *Store) Release(loc Location) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(loc)
}

func (s *Store) releaseLocked(loc Location) {
	switch loc.Kind {
	case InFrame:
		s.mu.used.put(loc.Index)
	case InSlot:
		s.mu.slotsUsed.put(loc.Index)
	}
}

// Relocate moves block id to location to, which the caller reserved. It
// pins the block, calls move(b) with the block as committed (b.Loc is the
// source), which must copy the bytes to `to` and make them durable, then
// commits the new location with a synced write. Only after the commit is the
// old location released — or, if keepOld, handed to the caller still
// reserved (a demotion that frees a frame for a promotion). On any failure
// `to` is released and the block stays where it was. It returns the block at
// its new location and the old location.
//
// The caller keeps the block from being used while it moves (the brick
// holds the block's lock and moves only unmapped blocks); the store only
// refuses a block another store operation is changing (ErrBusy).
func (s *Store) Relocate(id uint64, to Location, keepOld bool, move func(b Block) error) (Block, Location, error) {
	return s.relocate(id, to, keepOld, false, move)
}

// relocate is Relocate that also sets the read-write mark if markRW.
func (s *Store) relocate(id uint64, to Location, keepOld, markRW bool, move func(b Block) error) (Block, Location, error) {
	if to.Kind != InFrame && to.Kind != InSlot {
		return Block{}, Location{}, fmt.Errorf("relocate %#x to %v: %w", id, to, ErrInvalid)
	}
	r, err := s.pin(id, "relocate", stateMoving, nil)
	if err != nil {
		s.Release(to)
		return Block{}, Location{}, err
	}
	defer s.inflight.Done()
	s.mu.Lock()
	b := r.block(id) // loc and flags only change in states we exclude
	s.mu.Unlock()
	fail := func(err error) (Block, Location, error) {
		s.mu.Lock()
		r.state = stateLive
		s.releaseLocked(to)
		s.mu.Unlock()
		return Block{}, Location{}, fmt.Errorf("move %#x from %v to %v: %w", id, b.Loc, to, err)
	}
	if err := move(b); err != nil {
		return fail(err)
	}
	flags := r.flags // r.flags only changes in stateUpdating, which we exclude
	if markRW {
		flags |= flagMarkedRW
	}
	if err := s.commit(blockKey(id), encodeRecord(to, flags), pebble.Sync); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	r.flags = flags
	old := r.loc
	s.countLocked(r, -1)
	r.loc = to
	s.countLocked(r, 1)
	r.state = stateLive
	if !keepOld {
		s.releaseLocked(old)
	}
	nb := r.block(id)
	s.mu.Unlock()
	return nb, old, nil
}
