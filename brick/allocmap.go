package brick

import (
	"errors"
	"fmt"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// AllocMap serves an AllocMapRequest: block id is allocated straight into
// a zeroed frame and mapped for the session. Its allocation, placement
// and, for a read-write map, the durable mark are one record
// (alloc2m.AllocPlaced), so the client's round trip costs one synced
// commit where Alloc then Map cost two. The checks are Alloc's and Map's,
// in this order: flags, an unaligned or allocated id, the session's map
// limit, then the store's capacity, which AllocPlaced checks before a
// frame is reserved (so a full brick demotes nothing for it). If the key
// cannot be granted the block is freed again, so a failed AllocMap leaves
// nothing allocated unless that free fails too (logged).
func (s *Server) AllocMap(ss *session, id uint64, flags uint32) (*protocol.MapReply, error) {
	if !protocol.ValidMapFlags(flags) {
		return nil, fmt.Errorf("%w: map flags %#x: want read-only or read-write", protocol.ErrInvalid, flags)
	}
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	// Alloc's refusal comes before Map's: EEXIST before ELIMIT.
	if _, err := s.store.Lookup(id); !errors.Is(err, alloc2m.ErrNotFound) {
		if err == nil {
			err = fmt.Errorf("alloc %#x: %w", id, alloc2m.ErrExist)
		}
		return nil, err
	}
	if err := s.admitMap(ss, id, flags); err != nil {
		return nil, err
	}
	m := &mapping{ss: ss, id: id, flags: flags, gone: make(chan struct{})}
	defer s.maybeKick()
	b, err := s.store.AllocPlaced(id, m.rw(), func() (alloc2m.Location, func(uint64) error, error) {
		frame, prepare, err := s.zeroedFrame(id)
		if err != nil {
			return frame, nil, fmt.Errorf("block %#x needs a pmem frame: %w", id, err)
		}
		return frame, prepare, nil
	})
	if err != nil {
		return nil, err
	}
	s.tiering.placed()
	m.frame = b.Frame
	r, err := s.openMap(ss, m)
	if err != nil {
		if ferr := s.freeLocked(id); ferr != nil {
			ss.log.Warn("freeing the block of a failed alloc-map", "block", fmt.Sprintf("%#x", id), "err", ferr)
		}
		return nil, err
	}
	return r, nil
}
