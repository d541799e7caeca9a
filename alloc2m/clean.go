package alloc2m

import "fmt"

// Clean frames. A block's first frame must hold zeros on durable media
// before the placement is committed (Place's prepare), and zeroing 2 MiB
// on the Map's critical path is most of what a first Map costs. So the
// store keeps a small pool of free frames that a zeroer (the brick, in the
// background) has already zeroed and made durable:
//
//	free, dirty ──ReserveDirty──▶ zeroing ──PutClean──▶ clean ──TakeClean──▶ placed
//	     ▲                           │                    │
//	     └────────DropDirty──────────┘                    └── reserve, when nothing else is free
//
// The pool is memory only. At Open every frame no record names is free and
// dirty; a crash loses the pool, never the zeroing's guarantee, because a
// frame enters it only after its zeroes are durable, and leaves it only to be
// placed (or reserved for a move, which overwrites it). A frame that was
// reserved and then released unused goes back as dirty: Release cannot know
// whether it was written.
//
// Pooled and zeroing frames are set in the used bitmap, so ReserveFrame
// does not hand them out while a dirty frame is free, but Stats counts them
// as free, and a reserve that finds nothing else takes a pooled frame or
// waits for a zeroing to end rather than fail with ErrNoSpace.

// ReserveDirty takes the lowest free frame that is not in the clean pool,
// for a zeroer that will zero it, make that durable and hand it back with
// PutClean (or DropDirty if zeroing failed). It returns false when the
// pool and the zeroings in flight already reach target frames, when no such
// frame is free, or when the store takes no changes.
func (s *Store) ReserveDirty(target int) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writableLocked() != nil || uint64(len(s.mu.clean))+s.mu.zeroing >= uint64(target) {
		return 0, false
	}
	f, ok := s.mu.used.take()
	if !ok {
		return 0, false
	}
	s.mu.zeroing++
	return f, true
}

// PutClean puts frame f, taken with ReserveDirty and now zero on durable
// media, into the clean pool.
func (s *Store) PutClean(f uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.zeroing--
	s.mu.clean = append(s.mu.clean, f)
	s.mu.room.Broadcast()
}

// DropDirty returns frame f, taken with ReserveDirty, to the free frames
// without counting it clean (its zeroing failed).
func (s *Store) DropDirty(f uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.zeroing--
	s.mu.used.put(f)
	s.mu.room.Broadcast()
}

// TakeClean reserves a frame from the clean pool, as ReserveFrame does; its
// zeroes are durable, so a Place onto it needs no prepare. False when the
// pool is empty.
func (s *Store) TakeClean() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writableLocked() != nil {
		return 0, false
	}
	return s.popCleanLocked()
}

func (s *Store) popCleanLocked() (uint64, bool) {
	n := len(s.mu.clean)
	if n == 0 {
		return 0, false
	}
	f := s.mu.clean[n-1]
	s.mu.clean = s.mu.clean[:n-1]
	return f, true
}

// reserveFrameLocked takes the lowest free dirty frame, else a clean one,
// else waits for a zeroing in flight to end. mu is held (and released while
// waiting).
func (s *Store) reserveFrameLocked() (uint64, error) {
	for {
		if err := s.writableLocked(); err != nil {
			return 0, fmt.Errorf("reserve a %v: %w", InFrame, err)
		}
		if f, ok := s.mu.used.take(); ok {
			return f, nil
		}
		if f, ok := s.popCleanLocked(); ok {
			return f, nil
		}
		if s.mu.zeroing == 0 {
			return 0, fmt.Errorf("reserve a %v: all %d are in use: %w", InFrame, s.frames, ErrNoSpace)
		}
		s.mu.room.Wait()
	}
}
