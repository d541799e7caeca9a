package brick

import (
	"bytes"
	"fmt"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// serve dispatches one decoded request. A nil reply with a nil error means
// an empty success reply.
func (s *Server) serve(ss *session, m protocol.Message) (reply protocol.Message, err error) {
	start := time.Now()
	defer func() { s.metrics.verbDone(m.Type(), err, time.Since(start)) }()
	switch m := m.(type) {
	case *protocol.AllocRequest:
		return nil, s.Alloc(m.ID)
	case *protocol.FreeRequest:
		return nil, s.freeRequest(ss, m)
	case *protocol.MapRequest:
		return s.Map(ss, m.ID, m.Flags)
	case *protocol.AllocMapRequest:
		r, err := s.AllocMap(ss, m.ID, m.Flags)
		if err != nil {
			return nil, err
		}
		return &protocol.AllocMapReply{MapReply: *r}, nil
	case *protocol.UnmapRequest:
		if m.Keyed {
			return nil, s.Unmap(ss, m.ID, keyed(m.RKey))
		}
		return nil, s.Unmap(ss, m.ID, anyKey)
	case *protocol.ListRequest:
		return s.List(m.First, m.Last, int(m.Max))
	case *protocol.StatusRequest:
		return s.Status(), nil
	case *protocol.PersistRequest:
		return nil, s.Persist(ss, m.ID, m.Offset, m.Length)
	case *protocol.FreeRangeRequest:
		return s.FreeRange(m.First, m.Last)
	case *protocol.SessionsRequest:
		return s.SessionList(ss, m.Session, m.Block, int(m.Max)), nil
	case *protocol.RevokeRequest:
		return s.Revoke(ss, m)
	}
	return nil, fmt.Errorf("%w: %s", protocol.ErrNotSupported, m.Type())
}

// Alloc reserves block id. It takes no frame: the block gets one, zeroed,
// at its first Map (Server.resident).
func (s *Server) Alloc(id uint64) error {
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	if err := s.store.Alloc(id); err != nil { // no frame until its first map (tiering.go)
		return err
	}
	s.refill() // its first map will want a zeroed frame
	return nil
}

// zeroFrame makes frame i zero and durable before it is handed to a new
// block. Reading as zero is not enough: live memory can be zero while the
// persistent copy still holds the previous owner's bytes (zeros it wrote
// but never persisted), so the frame is always flushed. It zeroes as the
// zeroer does (zeroFramesLocal): by the file's extents while no hardware
// RNIC may have the frame's pages pinned, else by storing zeros where the
// frame is not zero already. Extents are the cheaper way for a frame whose
// pages are not in memory (one the zeroer emptied, mapped since but never
// touched): scanning it would fault in and clear every page first.
func (s *Server) zeroFrame(i uint64) error {
	return s.zeroFrames([]uint64{i})
}

// Free releases block id. A mapped block is refused with EBUSY.
func (s *Server) Free(id uint64) error {
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	return s.freeLocked(id)
}

// freeRequest serves a FreeRequest: a plain Free, or with FreeUnmap the
// session's own map revoked first (unmapAndFree).
func (s *Server) freeRequest(ss *session, m *protocol.FreeRequest) error {
	switch {
	case !protocol.ValidFreeFlags(m.Flags):
		return fmt.Errorf("%w: free flags %#x", protocol.ErrInvalid, m.Flags)
	case m.Flags&protocol.FreeKeyed != 0:
		return s.unmapAndFree(ss, m.ID, keyed(m.RKey))
	case m.Flags&protocol.FreeUnmap != 0:
		return s.unmapAndFree(ss, m.ID, anyKey)
	}
	return s.Free(m.ID)
}

// freeLocked is Free with id's stripe lock held.
func (s *Server) freeLocked(id uint64) error {
	s.mu.Lock()
	n := len(s.mu.maps[id])
	s.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("%w: block %#x is mapped by %d session(s); unmap it first", protocol.ErrBusy, id, n)
	}
	if err := s.store.Free(id); err != nil {
		return err
	}
	s.tiering.forget(id)
	s.refill() // the frame is dirty until the zeroer takes it
	return nil
}

// mapping is one session's handle on one block.
type mapping struct {
	ss    *session
	id    uint64
	frame uint64 // fixed while mapped: Free refuses mapped blocks
	flags uint32
	mr    verbs.MR // per-map registration, or
	mw    verbs.MW // a window over the session's region (window.go)

	// revoking: an Unmap (or the session's end) is revoking the key
	// outside the stripe lock (revoke.go). Guarded by srv.mu.
	revoking bool
	// freeing: the revocation is a Free's with FreeUnmap, which frees the
	// block next: no other session may map it meanwhile. Guarded by
	// srv.mu.
	freeing bool
	// gone is closed when the map is forgotten, its key revoked: a second
	// revoker (an admin's) waits on it for the first.
	gone chan struct{}
}

func (m *mapping) rw() bool     { return m.flags&protocol.MapReadWrite != 0 }
func (m *mapping) shared() bool { return m.flags&protocol.MapShared != 0 }

// conflicts reports whether a new map with flags may not coexist with
// existing: read-only maps always coexist; a read-write map coexists with
// others only when every map involved asked for shared.
func conflicts(existing []*mapping, flags uint32) bool {
	rw := flags&protocol.MapReadWrite != 0
	shared := flags&protocol.MapShared != 0
	for _, m := range existing {
		if (rw || m.rw()) && !(shared && m.shared()) {
			return true
		}
	}
	return false
}

// Map opens block id's frame to the session's peer: it checks the map may
// be made, brings the block into a frame (with the durable read-write mark
// a read-write map needs), grants the peer a key and records the map. The
// reply is built from the finished mapping (mapping.reply).
func (s *Server) Map(ss *session, id uint64, flags uint32) (_ *protocol.MapReply, err error) {
	if !protocol.ValidMapFlags(flags) {
		return nil, fmt.Errorf("%w: map flags %#x: want read-only or read-write", protocol.ErrInvalid, flags)
	}
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	b, err := s.store.Lookup(id)
	if err != nil {
		return nil, err
	}
	if err := s.admitMap(ss, id, flags); err != nil {
		return nil, err
	}
	m := &mapping{ss: ss, id: id, flags: flags, gone: make(chan struct{})}
	// A tiered or never-mapped block is brought into a frame first; a
	// never-mapped one mapped read-write is placed with its mark.
	wasMarked := b.MarkedRW
	if b, err = s.resident(id, b, m.rw()); err != nil {
		return nil, err
	}
	m.frame = b.Frame
	markedHere := b.MarkedRW && !wasMarked
	defer func() {
		if err != nil {
			s.undoMap(ss, id, markedHere)
		}
	}()
	// The durable mark comes before the key leaves the brick.
	if m.rw() && !b.MarkedRW {
		if err := s.store.MarkRW(id); err != nil {
			return nil, err
		}
		markedHere = true
	}
	return s.openMap(ss, m)
}

// openMap grants the peer a key to m's frame and records the map. The
// caller holds m.id's stripe lock.
func (s *Server) openMap(ss *session, m *mapping) (*protocol.MapReply, error) {
	if err := s.grant(ss, m, m.access(ss.method)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.mu.maps[m.id] = append(s.mu.maps[m.id], m)
	ss.maps[m.id] = m
	s.mu.Unlock()
	return m.reply(ss.method), nil
}

// admitMap refuses a map of id the session may not make: one it already
// has, one over its limit, or one that conflicts with other sessions'.
func (s *Server) admitMap(ss *session, id uint64, flags uint32) error {
	s.mu.Lock()
	existing := s.mu.maps[id]
	_, mine := ss.maps[id]
	nmaps := len(ss.maps)
	s.mu.Unlock()
	if mine {
		return fmt.Errorf("%w: block %#x is already mapped by this session", protocol.ErrBusy, id)
	}
	if nmaps >= s.maxMaps {
		return fmt.Errorf("%w: this session already has %d maps (the brick's per-session limit); unmap some first", protocol.ErrLimit, nmaps)
	}
	if conflicts(existing, flags) {
		return fmt.Errorf("%w: block %#x is mapped by another session", protocol.ErrBusy, id)
	}
	if beingFreed(existing) {
		return fmt.Errorf("%w: block %#x is being freed", protocol.ErrBusy, id)
	}
	return nil
}

// beingFreed reports whether a Free with FreeUnmap is revoking one of the
// maps (revoke.go).
func beingFreed(maps []*mapping) bool {
	for _, m := range maps {
		if m.freeing {
			return true
		}
	}
	return false
}

// undoMap undoes what a failed Map did once the block had a frame: the
// block stays a demotion candidate (it may just have been promoted), and a
// mark the Map set would report it unclean after a restart for nothing.
func (s *Server) undoMap(ss *session, id uint64, markedHere bool) {
	s.tiering.touch(id)
	if !markedHere {
		return
	}
	if err := s.store.ClearRW(id); err != nil {
		ss.log.Warn("clearing the read-write mark of a failed map", "block", fmt.Sprintf("%#x", id), "err", err)
	}
}

// grant opens m's frame to the peer with access: a memory window over the
// session's region where the QP has them (window.go), else a registration
// of the frame, with the region's data-path hooks (the power-fail
// simulator's model, or for real memory a Flush that makes an RDMA FLUSH
// durable).
func (s *Server) grant(ss *session, m *mapping, access verbs.Access) error {
	if bound, err := s.bindWindow(ss, m, access); err != nil || bound {
		return err
	}
	frame := s.region.Frame(m.frame)
	hooks, err := pmem.HooksFor(s.region, frame)
	if err != nil {
		return fmt.Errorf("brick: hooks for block %#x: %w", m.id, err)
	}
	m.mr, err = ss.qp.PD().RegisterWith(frame, access, verbs.RegisterOptions{Hooks: hooks})
	if err != nil {
		return fmt.Errorf("brick: register block %#x: %w", m.id, err)
	}
	return nil
}

// access is what the peer's key to m allows under the session's persist
// method: a read-write map may also be flushed when the method is FLUSH.
// A read-only map that is not shared excludes every read-write map of the
// block (conflicts), and the brick stores only into unmapped frames, so
// its key carries the AccessStable promise.
func (m *mapping) access(method protocol.PersistMethod) verbs.Access {
	access := verbs.AccessRemoteRead
	if !m.rw() && !m.shared() {
		access |= verbs.AccessStable
	}
	if m.rw() {
		access |= verbs.AccessRemoteWrite | verbs.AccessLocalWrite
		if method == protocol.PersistFlush {
			access |= verbs.AccessFlushPersistent
		}
	}
	return access
}

// rkey is the key of m's handle.
func (m *mapping) rkey() uint32 {
	if m.mw != nil {
		return m.mw.RKey()
	}
	return m.mr.RKey()
}

// reply is the Map reply for the granted mapping m.
func (m *mapping) reply(method protocol.PersistMethod) *protocol.MapReply {
	r := &protocol.MapReply{Access: protocol.AccessRead, Method: method, Length: alloc2m.BlockSize}
	if m.rw() {
		r.Access |= protocol.AccessWrite
	}
	r.RKey = m.rkey()
	if m.mw != nil {
		r.Addr = m.mw.Addr()
	} else {
		r.Addr = m.mr.Addr()
	}
	return r
}

// Persist makes a range of a block mapped by the session durable (GPSPM).
func (s *Server) Persist(ss *session, id, off, n uint64) error {
	if s.method == protocol.PersistNone {
		return fmt.Errorf("%w: the brick's memory is volatile (anonymous backend); nothing can be made persistent", protocol.ErrNotSupported)
	}
	if off >= alloc2m.BlockSize || n > alloc2m.BlockSize-off {
		return fmt.Errorf("%w: persist range [%#x, +%#x) is outside the 2 MiB block", protocol.ErrInvalid, off, n)
	}
	s.mu.Lock()
	m, ok := ss.maps[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: block %#x (persist needs a map)", protocol.ErrNotMapped, id)
	}
	if n == 0 {
		return nil
	}
	if err := s.region.Flush(s.region.Frame(m.frame)[off : off+n]); err != nil {
		return fmt.Errorf("brick: persist block %#x: %w", id, err)
	}
	s.metrics.persisted(s.method, n)
	return nil
}

// zeroChunk is what isZero compares against: bytes.Equal runs the
// runtime's vectorised memequal, several times faster than a word loop, and
// the zeroer scans every frame it zeroes.
var zeroChunk [4096]byte

func isZero(b []byte) bool {
	for len(b) >= len(zeroChunk) {
		if !bytes.Equal(b[:len(zeroChunk)], zeroChunk[:]) {
			return false
		}
		b = b[len(zeroChunk):]
	}
	return bytes.Equal(b, zeroChunk[:len(b)])
}
