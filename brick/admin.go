package brick

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// Admin verbs: what an operator needs when clients misbehave or leave
// work behind. They run as ordinary verbs of the asking session, so they
// are served only once it has proved the key (when the brick has one);
// any such session may act on any other, as any of them may already free
// any block.
//
// Revoking another session's maps goes through the same three steps as
// its own Unmap (revoke.go), so its keys are dead when the reply leaves.
// The session is not told: its next RDMA access through a revoked key
// fails, as after its own Unmap, and it may map the block again.

// FreeRange frees the allocated blocks with first ≤ ID ≤ last that no
// session maps, at most protocol.MaxFreeRange of them per call; the reply
// says where to go on. A mapped block is left allocated and counted as
// busy, as Free refuses it: freeing a range never revokes anyone's map.
func (s *Server) FreeRange(first, last uint64) (*protocol.FreeRangeReply, error) {
	if first%alloc2m.BlockSize != 0 || last%alloc2m.BlockSize != 0 {
		return nil, fmt.Errorf("%w: free range %#x..%#x: block IDs are multiples of 2 MiB", protocol.ErrInvalid, first, last)
	}
	if first > last {
		return nil, fmt.Errorf("%w: free range %#x..%#x is empty (FIRST > LAST)", protocol.ErrInvalid, first, last)
	}
	r := &protocol.FreeRangeReply{}
	ids := make([]uint64, 0, protocol.MaxFreeRange)
	s.store.Walk(first, last, func(b alloc2m.Block) bool {
		if len(ids) == protocol.MaxFreeRange {
			r.More, r.Next = true, b.ID
			return false
		}
		ids = append(ids, b.ID)
		return true
	})
	for _, id := range ids {
		switch err := s.Free(id); {
		case err == nil:
			r.Freed++
		case errors.Is(err, protocol.ErrBusy): // the brick's, or the store's (which refines it)
			if r.Busy == 0 {
				r.FirstBusy = id
			}
			r.Busy++
		case errors.Is(err, alloc2m.ErrNotFound):
			// freed by someone else since the walk
		default:
			return nil, fmt.Errorf("free range: block %#x (%d freed before it): %w", id, r.Freed, err)
		}
	}
	return r, nil
}

// SessionList describes the live sessions with ID ≥ fromSession (the
// first of them from its map of fromBlock on), at most max records, as
// many as fit in one reply. self is the asking session.
func (s *Server) SessionList(self *session, fromSession, fromBlock uint64, max int) *protocol.SessionsReply {
	if max <= 0 || max > protocol.MaxSessionsPerReply {
		max = protocol.MaxSessionsPerReply
	}
	now := time.Now()
	r := &protocol.SessionsReply{Sessions: []protocol.SessionInfo{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uint64, 0, len(s.mu.sessions))
	for id := range s.mu.sessions {
		if id >= fromSession {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		ss := s.mu.sessions[id]
		from := uint64(0)
		if id == fromSession {
			from = fromBlock
		}
		held := heldLocked(ss, from)
		room := r.Room()
		if len(r.Sessions) == max || room < min(len(held), 1) {
			r.More, r.NextSession, r.NextBlock = true, id, from
			break
		}
		n := min(len(held), room)
		info := protocol.SessionInfo{ID: id, AgeMS: uint64(now.Sub(ss.started).Milliseconds()),
			Maps: uint32(len(ss.maps)), Peer: ss.peer, Held: held[:n:n]}
		if n == 0 {
			info.Held = nil
		}
		if ss.admitted {
			info.Flags |= protocol.SessionReady
			if s.authKey != nil {
				info.Flags |= protocol.SessionKeyProved
			}
		}
		if ss == self {
			info.Flags |= protocol.SessionSelf
		}
		r.Sessions = append(r.Sessions, info)
		if n < len(held) {
			r.More, r.NextSession, r.NextBlock = true, id, held[n].ID
			break
		}
	}
	return r
}

// heldLocked lists ss's maps of blocks from on, in ID order. s.mu is held.
func heldLocked(ss *session, from uint64) []protocol.HeldMap {
	held := make([]protocol.HeldMap, 0, len(ss.maps))
	for id, m := range ss.maps {
		if id < from {
			continue
		}
		var f uint8
		if m.rw() {
			f |= protocol.HeldRW
		}
		if m.shared() {
			f |= protocol.HeldShared
		}
		if m.revoking {
			f |= protocol.HeldRevoking
		}
		held = append(held, protocol.HeldMap{ID: id, Flags: f})
	}
	slices.SortFunc(held, func(a, b protocol.HeldMap) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return held
}

// Revoke serves a RevokeRequest from session self: it revokes one map of
// a block held by any session, one or all maps of a session, or ends a
// session.
func (s *Server) Revoke(self *session, req *protocol.RevokeRequest) (*protocol.RevokeReply, error) {
	if !protocol.ValidRevokeFlags(req.Session, req.Flags) {
		return nil, fmt.Errorf("%w: revoke flags %#x for session %d", protocol.ErrInvalid, req.Flags, req.Session)
	}
	if req.Session == 0 {
		return s.revokeBlock(self, req.Block)
	}
	s.mu.Lock()
	target := s.mu.sessions[req.Session]
	s.mu.Unlock()
	if target == nil {
		return nil, fmt.Errorf("%w: session %d", protocol.ErrNoSession, req.Session)
	}
	switch {
	case req.Flags&protocol.RevokeEnd != 0:
		return s.endSession(self, target)
	case req.Flags&protocol.RevokeBlock != 0:
		ok, err := s.revokeMapOf(target, req.Block)
		if err != nil {
			return nil, err
		}
		if !ok {
			if _, err := s.store.Lookup(req.Block); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%w: block %#x is not mapped by session %d", protocol.ErrNotMapped, req.Block, target.id)
		}
		s.logRevoked(self, target, 1)
		return &protocol.RevokeReply{Maps: 1, Sessions: 1}, nil
	}
	n, err := s.revokeAll(target)
	if err != nil {
		return nil, err
	}
	r := &protocol.RevokeReply{Maps: uint32(n)}
	if n > 0 {
		r.Sessions = 1
		s.logRevoked(self, target, n)
	}
	return r, nil
}

// revokeBlock revokes every session's map of block id.
func (s *Server) revokeBlock(self *session, id uint64) (*protocol.RevokeReply, error) {
	s.mu.Lock()
	var holders []*session
	for _, m := range s.mu.maps[id] {
		holders = append(holders, m.ss)
	}
	s.mu.Unlock()
	r := &protocol.RevokeReply{}
	var errs []error
	for _, ss := range holders {
		ok, err := s.revokeMapOf(ss, id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			r.Maps++
			r.Sessions++
			s.logRevoked(self, ss, 1)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if r.Maps == 0 {
		if _, err := s.store.Lookup(id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: block %#x is not mapped by any session", protocol.ErrNotMapped, id)
	}
	return r, nil
}

// revokeAll revokes every map ss holds now; maps it makes meanwhile stay.
func (s *Server) revokeAll(ss *session) (int, error) {
	s.mu.Lock()
	ids := make([]uint64, 0, len(ss.maps))
	for id := range ss.maps {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	n := 0
	var errs []error
	for _, id := range ids {
		ok, err := s.revokeMapOf(ss, id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// revokeMapOf revokes ss's map of block id, or waits for the revocation
// already under way (the session's own Unmap, or its end) to finish. It
// reports whether there was a map; either way, when it returns no key of
// ss on block id works.
func (s *Server) revokeMapOf(ss *session, id uint64) (bool, error) {
	mu := s.stripe(id)
	mu.Lock()
	m, underWay := s.markRevokingLocked(ss, id, anyKey)
	mu.Unlock()
	switch {
	case m == nil:
		return false, nil
	case underWay:
		<-m.gone // bounded: a revocation ends its session past revokeBound
		return true, nil
	}
	return true, s.finishRevoke(m, s.revoke(m))
}

// endSession ends target and waits until it has: its queue pair closed
// and its maps revoked. A session cannot end itself this way (it would
// wait for its own end); it closes its connection instead.
func (s *Server) endSession(self, target *session) (*protocol.RevokeReply, error) {
	if target == self {
		return nil, fmt.Errorf("%w: session %d cannot end itself; close the connection instead", protocol.ErrInvalid, target.id)
	}
	s.mu.Lock()
	maps := len(target.maps)
	target.cause.CompareAndSwap(nil, &errEndedByAdmin) // prepare refuses it if it has no QP yet
	qp := target.qp
	s.mu.Unlock()
	if qp != nil {
		qp.Close()
	}
	self.log.Info("ending a session by admin request", "target", target.id, "target_peer", target.peer, "maps", maps)
	bound := time.NewTimer(2 * s.revokeBound())
	defer bound.Stop()
	select {
	case <-target.done:
	case <-bound.C:
		return nil, fmt.Errorf("%w: session %d is still ending after %v", protocol.ErrBusy, target.id, 2*s.revokeBound())
	}
	return &protocol.RevokeReply{Maps: uint32(maps), Sessions: 1}, nil
}

func (s *Server) logRevoked(self, target *session, n int) {
	self.log.Info("revoked maps by admin request", "target", target.id, "target_peer", target.peer, "maps", n)
}
