package alloc2m

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Lookup returns block id.
func (s *Store) Lookup(id uint64) (Block, error) {
	if id%BlockSize != 0 {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrUnaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrClosed)
	}
	r, ok := s.lookupLocked(id)
	if !ok {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrNotFound)
	}
	return r.block(id), nil
}

// walkChunk is how many blocks Walk copies per lock hold.
var walkChunk = 512

// Walk calls fn for every allocated block with first ≤ ID ≤ last, in
// ascending ID order, until fn returns false. The store lock is not held
// while fn runs (fn may call the store); blocks are copied out in chunks, so
// a walk that races changes sees each block as it was at some moment during
// the walk. A closed store walks nothing.
func (s *Store) Walk(first, last uint64, fn func(Block) bool) {
	if first > last {
		return
	}
	buf := make([]Block, 0, walkChunk)
	start := first
	for {
		buf = buf[:0]
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			return
		}
		s.mu.blocks.ascend(start, last, func(id uint64, r *record) bool {
			if r.state != stateAllocating {
				buf = append(buf, r.block(id))
			}
			return len(buf) < walkChunk
		})
		s.mu.Unlock()
		for _, b := range buf {
			if !fn(b) {
				return
			}
		}
		if len(buf) < walkChunk || buf[len(buf)-1].ID >= last {
			return
		}
		start = buf[len(buf)-1].ID + 1
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Frames:        s.frames,
		FreeFrames:    s.mu.used.free() + uint64(len(s.mu.clean)+len(s.mu.zeroing)),
		CleanFrames:   uint64(len(s.mu.clean)),
		Blocks:        s.mu.live,
		Unclean:       s.mu.unclean,
		Slots:         s.slots,
		FreeSlots:     s.mu.slotsUsed.free(),
		Tiered:        s.mu.tiered,
		TieredUnclean: s.mu.tieredUnclean,
		Unplaced:      s.mu.unplaced,
		Capacity:      s.capacity(),
	}
}

// Metrics returns Pebble's metrics for the store (disk usage, compactions,
// read amplification, WAL), or nil once the store is closed.
func (s *Store) Metrics() *pebble.Metrics {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.inflight.Add(1) // Close waits for it before closing Pebble
	s.mu.Unlock()
	defer s.inflight.Done()
	return s.db.Metrics()
}
