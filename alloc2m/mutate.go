package alloc2m

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Alloc allocates block id without placing it anywhere: it reads as zeros
// until Place gives it a frame. The allocation is durable when Alloc
// returns. It fails with ErrNoSpace when the store already holds Capacity
// blocks.
func (s *Store) Alloc(id uint64) error {
	_, err := s.alloc(id, false, nil)
	return err
}

// A FrameFunc reserves a frame for a block's first placement and returns
// it with the zeroing Place's prepare would run (nil for a frame already
// zero on durable media): a Reserve… method of the store, or the caller's
// own, which may make room first. On error it has reserved nothing.
type FrameFunc func() (frame Location, prepare func(frame uint64) error, err error)

// AllocPlaced allocates block id straight into a frame: Alloc and Place
// (PlaceRW if markRW) as one record, committed with one synced write. The
// block counts against Capacity before reserve is called, so a store at
// capacity refuses it (ErrNoSpace) without reserving a frame. The frame
// must be zero and durable once prepare returns, as for Place. On any
// failure the block is not allocated and the frame is released.
func (s *Store) AllocPlaced(id uint64, markRW bool, reserve FrameFunc) (Block, error) {
	return s.alloc(id, markRW, reserve)
}

// alloc is Alloc, or AllocPlaced with a reserve.
func (s *Store) alloc(id uint64, markRW bool, reserve FrameFunc) (Block, error) {
	r, err := s.startAlloc(id)
	if err != nil {
		return Block{}, err
	}
	defer s.inflight.Done()
	var loc Location
	var flags uint8
	if markRW {
		flags |= flagMarkedRW
	}
	if reserve != nil {
		var prepare func(uint64) error
		loc, prepare, err = reserve()
		switch {
		case err != nil:
			loc = Location{} // nothing was reserved: nothing to release
		case loc.Kind != InFrame:
			err = fmt.Errorf("placed in %v, not a frame: %w", loc, ErrInvalid)
		case prepare != nil:
			err = prepare(loc.Index)
		}
	}
	if err == nil {
		err = s.commit(blockKey(id), encodeRecord(loc, flags), pebble.Sync)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.mu.blocks.Delete(id)
		s.releaseLocked(loc)
		return Block{}, fmt.Errorf("alloc %#x: %w", id, err)
	}
	r.loc, r.flags, r.state = loc, flags, stateLive
	s.countLocked(r, 1)
	s.mu.live++
	return r.block(id), nil
}

// startAlloc inserts id's record, not yet acknowledged (stateAllocating),
// if the block may be allocated. The caller owes s.inflight.Done().
func (s *Store) startAlloc(id uint64) (*record, error) {
	if id%BlockSize != 0 {
		return nil, fmt.Errorf("alloc %#x: %w", id, ErrUnaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, fmt.Errorf("alloc %#x: %w", id, err)
	}
	if _, _, ok := s.mu.blocks.Get(id); ok {
		return nil, fmt.Errorf("alloc %#x: %w", id, ErrExist)
	}
	// Pending Allocs and Frees count: the former may be acknowledged, the
	// latter may fail.
	if c := s.capacity(); uint64(s.mu.blocks.Len()) >= c {
		if s.slots == 0 {
			return nil, fmt.Errorf("alloc %#x: all %d pmem frames are allocated: %w", id, s.frames, ErrNoSpace)
		}
		return nil, fmt.Errorf("alloc %#x: all %d pmem frames and %d tier slots are allocated (one is held back for moves): %w",
			id, s.frames, s.slots, ErrNoSpace)
	}
	r := &record{state: stateAllocating}
	s.mu.blocks.ReplaceOrInsert(id, r)
	s.inflight.Add(1)
	return r, nil
}

// capacity is how many blocks the store admits.
func (s *Store) capacity() uint64 {
	if s.slots == 0 {
		return s.frames
	}
	return s.frames + s.slots - 1
}

// Free releases block id; its frame or slot becomes reusable once the
// deletion is durable. The caller zeroes frames before reuse (Place's
// prepare).
func (s *Store) Free(id uint64) error {
	r, err := s.pin(id, "free", stateFreeing, nil)
	if err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := s.commit(blockKey(id), nil, pebble.Sync); err != nil {
		s.mu.Lock()
		r.state = stateLive
		s.mu.Unlock()
		return fmt.Errorf("free %#x: %w", id, err)
	}
	s.mu.Lock()
	s.mu.blocks.Delete(id)
	s.releaseLocked(r.loc)
	s.countLocked(r, -1)
	s.mu.live--
	if r.unclean {
		s.mu.unclean--
	}
	s.mu.Unlock()
	return nil
}

// MarkRW durably marks block id as mapped read-write. Call it before a
// read-write handle is handed out.
func (s *Store) MarkRW(id uint64) error {
	return s.setFlags(id, "mark read-write", true, pebble.Sync)
}

// ClearRW clears the read-write mark (and Unclean) of block id. It is lazy:
// the change is durable with the next synced commit, and if a crash loses it
// the block merely reopens Unclean.
func (s *Store) ClearRW(id uint64) error {
	return s.setFlags(id, "clear read-write mark", false, pebble.NoSync)
}

func (s *Store) setFlags(id uint64, op string, mark bool, wo *pebble.WriteOptions) error {
	// Nothing to commit if the block is already in the wanted state.
	noop := func(r *record) bool {
		return (r.flags&flagMarkedRW != 0) == mark && (mark || !r.unclean)
	}
	r, err := s.pin(id, op, stateUpdating, noop)
	if err != nil || r == nil {
		return err
	}
	defer s.inflight.Done()
	flags := r.flags &^ flagMarkedRW // r.flags only changes in stateUpdating, which we own
	if mark {
		flags |= flagMarkedRW
	}
	if err := s.commit(blockKey(id), encodeRecord(r.loc, flags), wo); err != nil {
		s.mu.Lock()
		r.state = stateLive
		s.mu.Unlock()
		return fmt.Errorf("%s %#x: %w", op, id, err)
	}
	s.mu.Lock()
	r.flags = flags
	if !mark && r.unclean {
		s.countLocked(r, -1)
		r.unclean = false
		s.countLocked(r, 1)
		s.mu.unclean--
	}
	r.state = stateLive
	s.mu.Unlock()
	return nil
}

// pin moves live block id to state for an operation that will commit
// without the lock. It returns a nil record and no error if noop (optional)
// says there is nothing to do. When it returns a record, the caller owes
// s.inflight.Done().
func (s *Store) pin(id uint64, op string, state opState, noop func(*record) bool) (*record, error) {
	if id%BlockSize != 0 {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrUnaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, fmt.Errorf("%s %#x: %w", op, id, err)
	}
	r, ok := s.lookupLocked(id)
	if !ok {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrNotFound)
	}
	if r.state != stateLive {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrBusy)
	}
	if noop != nil && noop(r) {
		return nil, nil
	}
	r.state = state
	s.inflight.Add(1)
	return r, nil
}

// Place gives block id, which has no location yet, a frame: the lowest free
// one, or frame if the caller reserved one (pass Location{} to let Place
// pick). prepare(frame) must leave the frame zeroed and durable; then the
// placement is committed. If prepare or the commit fails, the block stays
// unplaced and the frame is released. ErrNoSpace: no frame is free (the
// caller demotes a block and retries).
func (s *Store) Place(id uint64, frame Location, prepare func(frame uint64) error) (Block, error) {
	return s.place(id, frame, false, prepare)
}

// PlaceRW is Place for a block about to be mapped read-write: the placement
// and the read-write mark (see MarkRW) are one record, committed with one
// synced write, so a block's first read-write map costs one commit, not two.
func (s *Store) PlaceRW(id uint64, frame Location, prepare func(frame uint64) error) (Block, error) {
	return s.place(id, frame, true, prepare)
}

func (s *Store) place(id uint64, frame Location, markRW bool, prepare func(frame uint64) error) (Block, error) {
	if b, err := s.Lookup(id); err != nil {
		s.Release(frame)
		return Block{}, fmt.Errorf("place: %w", err)
	} else if b.Loc.Kind != Nowhere {
		s.Release(frame)
		return Block{}, fmt.Errorf("place %#x: the block is already in %v: %w", id, b.Loc, ErrBusy)
	}
	if frame.Kind == Nowhere {
		f, err := s.ReserveFrame()
		if err != nil {
			return Block{}, fmt.Errorf("place %#x: %w", id, err)
		}
		frame = FrameLoc(f)
	}
	b, _, err := s.relocate(id, frame, false, markRW, func(from Block) error {
		if from.Loc.Kind != Nowhere {
			return fmt.Errorf("block is already in %v: %w", from.Loc, ErrBusy)
		}
		if prepare == nil {
			return nil
		}
		return prepare(frame.Index)
	})
	return b, err
}

// lookupLocked returns the record of an acknowledged block.
func (s *Store) lookupLocked(id uint64) (*record, bool) {
	_, r, ok := s.mu.blocks.Get(id)
	if !ok || r.state == stateAllocating {
		return nil, false
	}
	return r, true
}

// writableLocked says whether changes may start.
func (s *Store) writableLocked() error {
	switch {
	case s.mu.closed:
		return ErrClosed
	case s.readOnly:
		return ErrReadOnly
	case s.mu.failed != nil:
		return fmt.Errorf("%w (after: %v)", ErrFailed, s.mu.failed)
	}
	return nil
}

// commit sets key to value (deletes it if value is nil) without the store
// lock held. A Pebble commit failure is fatal inside Pebble (see
// pebbleLogger); it is turned into ErrFailed and poisons the store.
func (s *Store) commit(key, value []byte, wo *pebble.WriteOptions) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fe, ok := r.(fatalError)
		if !ok {
			panic(r)
		}
		err = fmt.Errorf("%w: %v", ErrFailed, fe)
		s.mu.Lock()
		if s.mu.failed == nil {
			s.mu.failed = fe
		}
		s.mu.Unlock()
	}()
	if value == nil {
		return s.db.Delete(key, wo)
	}
	return s.db.Set(key, value, wo)
}

// countLocked adds (d = 1) or removes (d = -1) live record r to or from
// the per-location counters.
func (s *Store) countLocked(r *record, d int) {
	switch r.loc.Kind {
	case InSlot:
		s.mu.tiered += uint64(d)
		if r.unclean {
			s.mu.tieredUnclean += uint64(d)
		}
	case Nowhere:
		s.mu.unplaced += uint64(d)
	}
}
