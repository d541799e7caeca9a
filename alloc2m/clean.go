package alloc2m

import (
	"fmt"
	"slices"
)

// Clean frames. A block's first frame must hold zeros on durable media
// before the placement is committed (Place's prepare), and zeroing 2 MiB
// on the Map's critical path is most of what a first Map costs. So the
// store keeps a small pool of free frames that a zeroer (the brick, in the
// background) has already zeroed and made durable:
//
//	free, dirty ──ReserveDirty──▶ zeroing ──PutClean──▶ clean ──ReserveFrameClean──▶ placed
//	     ▲  ▲                        │                   │
//	     │  └──────DropDirty─────────┘                   │
//	     └───────ReserveDirty, to keep the lowest frames──┘
//
// The pool is memory only. At Open every frame no record names is free and
// dirty; a crash loses the pool, never the zeroing's guarantee, because a
// frame enters it only after its zeroes are durable, and leaves it only to be
// placed (or reserved for a move, which overwrites it). A frame that was
// reserved and then released unused goes back as dirty: Release cannot know
// whether it was written.
//
// The pool holds the lowest free frames: when a frame below a pooled one
// is freed, the zeroer zeroes it and the highest pooled frame goes back to
// the free frames as dirty (it may well be zero, but nothing vouches for it
// any more). ReserveFrameClean, for first placements, takes the lowest
// pooled frame, else a dirty one; ReserveFrame, for moves that overwrite
// the whole frame, takes the lowest dirty frame first and spares the pool.
// Either waits for a zeroing in flight rather than fail with ErrNoSpace. Pooled and
// zeroing frames are set in the used bitmap, and Stats counts them as free.

// ReserveDirty takes the lowest free frame that is not in the clean pool,
// for a zeroer that will zero it, make that durable and hand it back with
// PutClean (or DropDirty if zeroing failed). It returns false when the
// pool and the zeroings in flight already reach target frames and every
// pooled frame is below it, when no such frame is free, or when the store
// takes no changes. At the target, the highest pooled frame leaves the pool
// to make room.
func (s *Store) ReserveDirty(target int) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writableLocked() != nil {
		return 0, false
	}
	f, ok := s.mu.used.first()
	if !ok {
		return 0, false
	}
	if len(s.mu.clean)+len(s.mu.zeroing) >= target {
		h, ok := highest(s.mu.clean)
		if !ok || h < f {
			return 0, false
		}
		s.mu.clean = remove(s.mu.clean, h) // the pool keeps the lowest frames
		s.mu.used.put(h)
	}
	s.mu.used.set(f)
	s.mu.zeroing = append(s.mu.zeroing, f)
	return f, true
}

// PutClean puts frame f, taken with ReserveDirty and now zero on durable
// media, into the clean pool.
func (s *Store) PutClean(f uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.zeroing = remove(s.mu.zeroing, f)
	s.mu.clean = append(s.mu.clean, f)
	s.mu.room.Broadcast()
}

// DropDirty returns frame f, taken with ReserveDirty, to the free frames
// without counting it clean (its zeroing failed).
func (s *Store) DropDirty(f uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.zeroing = remove(s.mu.zeroing, f)
	s.mu.used.put(f)
	s.mu.room.Broadcast()
}

// ReserveFrameClean reserves a frame for a first placement: the lowest one
// from the clean pool (clean is true: zero on durable media, so Place needs
// no prepare), else the lowest dirty one (the caller zeroes it: with the
// pool empty, first placements zero in parallel rather than queue behind
// the zeroer), else it waits for a zeroing in flight.
func (s *Store) ReserveFrameClean() (f uint64, clean bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveFrameLocked(true)
}

// reserveFrameLocked takes a frame not in use: with preferClean the lowest
// pooled one, else the lowest dirty one; without, the other way round. With
// neither, it waits for a zeroing in flight rather than fail. mu is held
// (and released while waiting).
func (s *Store) reserveFrameLocked(preferClean bool) (uint64, bool, error) {
	for {
		if err := s.writableLocked(); err != nil {
			return 0, false, fmt.Errorf("reserve a %v: %w", InFrame, err)
		}
		c, clean := lowest(s.mu.clean)
		if !clean || !preferClean {
			if f, ok := s.mu.used.take(); ok {
				return f, false, nil
			}
		}
		switch {
		case clean:
			s.mu.clean = remove(s.mu.clean, c)
			return c, true, nil
		case len(s.mu.zeroing) > 0:
			s.mu.room.Wait()
		default:
			return 0, false, fmt.Errorf("reserve a %v: all %d are in use: %w", InFrame, s.frames, ErrNoSpace)
		}
	}
}

// lowest returns the smallest frame in fs (a pool of at most a few hundred).
func lowest(fs []uint64) (uint64, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	return slices.Min(fs), true
}

// highest returns the largest frame in fs.
func highest(fs []uint64) (uint64, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	return slices.Max(fs), true
}

// remove deletes frame f from fs, which holds it once.
func remove(fs []uint64, f uint64) []uint64 {
	i := slices.Index(fs, f)
	fs[i] = fs[len(fs)-1]
	return fs[:len(fs)-1]
}
