package alloc2m

import "github.com/brick-storage/brick/protocol"

// State is the state the store records for block b, which no session maps.
// Unclean comes first: it is what an application must act on, wherever the
// block lives. A block never mapped (no frame yet) lists as resident: it
// reads as zeros and maps without a copy.
func (b Block) State() protocol.ExtentState {
	switch {
	case b.Unclean:
		return protocol.StateUnclean
	case b.Tiered():
		return protocol.StateTiered
	}
	return protocol.StateResident
}

// List coalesces the allocated blocks with first ≤ ID ≤ last into at most
// max extents (max ≤ 0: no limit) with protocol.Coalesce. stateOf, when
// not nil, says each block's state instead of Block.State: the live
// server knows which blocks are mapped, the store does not. When the range
// holds more than max extents, the reply has More set and Next at the
// first block left out. List only reads: it serves the live List verb and
// the offline `brickctl list --meta` alike.
func (s *Store) List(first, last uint64, max int, stateOf func(Block) protocol.ExtentState) *protocol.ListReply {
	if stateOf == nil {
		stateOf = Block.State
	}
	r := &protocol.ListReply{Extents: []protocol.Extent{}}
	s.Walk(first, last, func(b Block) bool {
		var ok bool
		r.Extents, ok = protocol.Coalesce(r.Extents, protocol.Extent{First: b.ID, Blocks: 1, State: stateOf(b)}, max)
		if !ok {
			r.More, r.Next = true, b.ID
		}
		return ok
	})
	return r
}
