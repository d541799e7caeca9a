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
//	     ▲                           │
//	     └────────DropDirty──────────┘
//
// The pool is memory only. At Open every frame no record names is free and
// dirty; a crash loses the pool, never the zeroing's guarantee, because a
// frame enters it only after its zeroes are durable, and leaves it only to be
// placed (or reserved for a move, which overwrites it). A frame that was
// reserved and then released unused goes back as dirty: Release cannot know
// whether it was written.
//
// A reserve still takes the lowest frame that is not in use, clean or
// dirty, so blocks pack at the start of the region as before; if that frame
// is being zeroed, it waits for the zeroing rather than take another. The
// zeroer works lowest first, so under load the frame a first Map gets is
// usually clean. Pooled and zeroing frames are set in the used bitmap, and
// Stats counts them as free.

// ReserveDirty takes the lowest free frame that is not in the clean pool,
// for a zeroer that will zero it, make that durable and hand it back with
// PutClean (or DropDirty if zeroing failed). It returns false when the
// pool and the zeroings in flight already reach target frames, when no such
// frame is free, or when the store takes no changes.
func (s *Store) ReserveDirty(target int) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writableLocked() != nil || len(s.mu.clean)+len(s.mu.zeroing) >= target {
		return 0, false
	}
	f, ok := s.mu.used.take()
	if !ok {
		return 0, false
	}
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

// ReserveFrameClean is ReserveFrame that also says whether the frame is
// from the clean pool: zero on durable media, so a Place onto it needs no
// prepare.
func (s *Store) ReserveFrameClean() (f uint64, clean bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveFrameLocked()
}

// reserveFrameLocked takes the lowest frame not in use, from the clean pool
// or the dirty free frames, waiting if that frame is being zeroed. mu is
// held (and released while waiting).
func (s *Store) reserveFrameLocked() (uint64, bool, error) {
	for {
		if err := s.writableLocked(); err != nil {
			return 0, false, fmt.Errorf("reserve a %v: %w", InFrame, err)
		}
		f, dirty := s.mu.used.first()
		c, clean := lowest(s.mu.clean)
		z, zeroing := lowest(s.mu.zeroing)
		switch {
		case zeroing && (!dirty || z < f) && (!clean || z < c):
			s.mu.room.Wait()
		case clean && (!dirty || c < f):
			s.mu.clean = remove(s.mu.clean, c)
			return c, true, nil
		case dirty:
			s.mu.used.set(f)
			return f, false, nil
		default:
			return 0, false, fmt.Errorf("reserve a %v: all %d are in use: %w", InFrame, s.frames, ErrNoSpace)
		}
	}
}

// lowest returns the smallest frame in fs (a pool of at most a few dozen).
func lowest(fs []uint64) (uint64, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	m := fs[0]
	for _, f := range fs[1:] {
		m = min(m, f)
	}
	return m, true
}

// remove deletes frame f from fs, which holds it once.
func remove(fs []uint64, f uint64) []uint64 {
	i := slices.Index(fs, f)
	fs[i] = fs[len(fs)-1]
	return fs[:len(fs)-1]
}
