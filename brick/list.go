package brick

import (
	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// List returns up to max extents of allocated blocks with first ≤ ID ≤ last,
// coalescing consecutive IDs in the same state. more is set, with next, when
// the range holds more than max extents.
func (s *Server) List(first, last uint64, max int) (*protocol.ListReply, error) {
	if max <= 0 || max > protocol.MaxExtentsPerList {
		max = protocol.MaxExtentsPerList
	}
	s.mu.Lock()
	live := make(map[uint64]protocol.ExtentState, len(s.mu.maps))
	for id, ms := range s.mu.maps {
		st := protocol.StateMappedRO
		for _, m := range ms {
			if m.rw() {
				st = protocol.StateMappedRW
			}
		}
		live[id] = st
	}
	s.mu.Unlock()
	stateOf := func(b alloc2m.Block) protocol.ExtentState {
		if st, ok := live[b.ID]; ok {
			return st
		}
		return b.State()
	}
	return s.store.List(first, last, max, stateOf), nil
}
