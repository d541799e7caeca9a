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
		return BlockState(b)
	}
	return ListStore(s.store, first, last, max, stateOf), nil
}

// BlockState is the state of an unmapped block as the store records it.
// Unclean comes first: it is what an application must act on, wherever the
// block lives. A block never mapped (no frame yet) lists as resident: it
// reads as zeros and maps without a copy.
func BlockState(b alloc2m.Block) protocol.ExtentState {
	switch {
	case b.Unclean:
		return protocol.StateUnclean
	case b.Tiered():
		return protocol.StateTiered
	}
	return protocol.StateResident
}

// ListStore coalesces the store's blocks in [first, last] into at most max
// extents. It serves both the live List and the offline view of
// `brickctl list --meta`.
func ListStore(st *alloc2m.Store, first, last uint64, max int, stateOf func(alloc2m.Block) protocol.ExtentState) *protocol.ListReply {
	r := &protocol.ListReply{Extents: []protocol.Extent{}}
	st.Walk(first, last, func(b alloc2m.Block) bool {
		state := stateOf(b)
		if n := len(r.Extents); n > 0 {
			e := &r.Extents[n-1]
			if e.State == state && e.First+e.Blocks*alloc2m.BlockSize == b.ID {
				e.Blocks++
				return true
			}
			if n == max {
				r.More, r.Next = true, b.ID
				return false
			}
		}
		r.Extents = append(r.Extents, protocol.Extent{First: b.ID, Blocks: 1, State: state})
		return true
	})
	return r
}
