package protocol

// Admin verbs: free a range of blocks, list the sessions and the maps they
// hold, revoke a session's maps or end it. They are verbs like the others
// (ClassVerb), served only to a session that may use verbs at all, i.e.
// one that has proved the key when the brick has one.

// FreeRange bounds: a FreeRangeRequest examines at most MaxFreeRange
// allocated blocks; the reply says where to go on (More, Next). Freeing is
// a metadata sync per block, so the bound keeps one request short and
// leaves the session's other verbs room between pages.
const MaxFreeRange = 256

// Message sizes of the admin verbs.
const (
	freeRangeReqSize   = 16
	freeRangeReplySize = 32
	sessionsReqSize    = 20
	sessionsReplyHead  = 24
	sessionHeadSize    = 88
	heldMapSize        = 16
	revokeReqSize      = 20
	revokeReplySize    = 8
	// PeerSize bounds the peer address in a session record (longer is cut).
	PeerSize = 64
	// MaxSessionsPerReply bounds the session records of one reply.
	MaxSessionsPerReply = (MaxPayload - sessionsReplyHead) / sessionHeadSize
)

// FreeRangeRequest frees the allocated blocks with First ≤ ID ≤ Last that
// no session maps (both 2 MiB-aligned, First ≤ Last).
type FreeRangeRequest struct{ First, Last uint64 }

func (*FreeRangeRequest) Type() Type { return TypeFreeRange }
func (*FreeRangeRequest) size() int  { return freeRangeReqSize }
func (m *FreeRangeRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.First)
	be.PutUint64(b[8:], m.Last)
}
func (m *FreeRangeRequest) unmarshal(b []byte) error {
	if err := checkLen(b, freeRangeReqSize); err != nil {
		return err
	}
	m.First = be.Uint64(b[0:])
	m.Last = be.Uint64(b[8:])
	return nil
}

// FreeRangeReply says what one FreeRangeRequest did: Freed blocks freed,
// Busy blocks left because a session maps them (the first of them is
// FirstBusy). When More is set, the client asks again from Next.
type FreeRangeReply struct {
	Freed, Busy uint32
	More        bool
	Next        uint64
	FirstBusy   uint64 // valid when Busy > 0
}

func (*FreeRangeReply) Type() Type { return TypeFreeRange | ReplyBit }
func (*FreeRangeReply) size() int  { return freeRangeReplySize }
func (m *FreeRangeReply) marshal(b []byte) {
	be.PutUint32(b[0:], m.Freed)
	be.PutUint32(b[4:], m.Busy)
	be.PutUint32(b[8:], uint32(boolByte(m.More)))
	be.PutUint32(b[12:], 0)
	be.PutUint64(b[16:], m.Next)
	be.PutUint64(b[24:], m.FirstBusy)
}
func (m *FreeRangeReply) unmarshal(b []byte) error {
	if err := checkLen(b, freeRangeReplySize); err != nil {
		return err
	}
	flags := be.Uint32(b[8:])
	if flags&^1 != 0 {
		return ErrFlags
	}
	if be.Uint32(b[12:]) != 0 {
		return ErrReserved
	}
	m.Freed = be.Uint32(b[0:])
	m.Busy = be.Uint32(b[4:])
	m.More = flags&1 != 0
	m.Next = be.Uint64(b[16:])
	m.FirstBusy = be.Uint64(b[24:])
	return nil
}

// SessionsRequest lists the sessions with ID ≥ Session, the first of them
// from its map of block Block on (0, 0: from the start), at most Max
// session records (0: as many as fit).
type SessionsRequest struct {
	Session, Block uint64
	Max            uint32
}

func (*SessionsRequest) Type() Type { return TypeSessions }
func (*SessionsRequest) size() int  { return sessionsReqSize }
func (m *SessionsRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.Session)
	be.PutUint64(b[8:], m.Block)
	be.PutUint32(b[16:], m.Max)
}
func (m *SessionsRequest) unmarshal(b []byte) error {
	if err := checkLen(b, sessionsReqSize); err != nil {
		return err
	}
	m.Session = be.Uint64(b[0:])
	m.Block = be.Uint64(b[8:])
	m.Max = be.Uint32(b[16:])
	return nil
}

// Session record flags.
const (
	// SessionReady: the session may use verbs (it proved the key, or the
	// brick has none).
	SessionReady uint8 = 1 << 0
	// SessionKeyProved: the session proved the brick's pre-shared key.
	SessionKeyProved uint8 = 1 << 1
	// SessionSelf: the session that asked for the list.
	SessionSelf uint8 = 1 << 2
)

// Held map flags.
const (
	HeldRW       uint8 = 1 << 0 // read-write (else read-only)
	HeldShared   uint8 = 1 << 1 // a shared read-write map
	HeldRevoking uint8 = 1 << 2 // an unmap or revocation is under way
)

// HeldMap is one map a session holds.
type HeldMap struct {
	ID    uint64
	Flags uint8 // Held*
}

// SessionInfo is one session record. A session whose maps do not fit in
// one reply is continued in the next with the same ID: Maps is the total
// it holds, Held those in this record.
type SessionInfo struct {
	ID    uint64
	AgeMS uint64 // since the connection was accepted
	Maps  uint32
	Flags uint8 // Session*
	Peer  string
	Held  []HeldMap
}

func (s *SessionInfo) size() int { return sessionHeadSize + heldMapSize*len(s.Held) }

// SessionsReply carries session records in ascending ID order. When More
// is set, the client asks again from (NextSession, NextBlock).
type SessionsReply struct {
	Sessions               []SessionInfo
	More                   bool
	NextSession, NextBlock uint64
}

func (*SessionsReply) Type() Type { return TypeSessions | ReplyBit }
func (m *SessionsReply) size() int {
	n := sessionsReplyHead
	for i := range m.Sessions {
		n += m.Sessions[i].size()
	}
	return n
}

// Room is how many held maps one more session record could carry within
// MaxPayload, or -1 when not even a record without maps fits.
func (m *SessionsReply) Room() int {
	free := MaxPayload - m.size() - sessionHeadSize
	if free < 0 {
		return -1
	}
	return free / heldMapSize
}

func (m *SessionsReply) marshal(b []byte) {
	be.PutUint32(b[0:], uint32(len(m.Sessions)))
	be.PutUint32(b[4:], uint32(boolByte(m.More)))
	be.PutUint64(b[8:], m.NextSession)
	be.PutUint64(b[16:], m.NextBlock)
	off := sessionsReplyHead
	for _, s := range m.Sessions {
		x := b[off:][:s.size()]
		be.PutUint64(x[0:], s.ID)
		be.PutUint64(x[8:], s.AgeMS)
		be.PutUint32(x[16:], s.Maps)
		be.PutUint16(x[20:], uint16(len(s.Held)))
		x[22], x[23] = s.Flags, 0
		clear(x[24:sessionHeadSize])
		copy(x[24:sessionHeadSize], s.Peer)
		for i, h := range s.Held {
			y := x[sessionHeadSize+i*heldMapSize:][:heldMapSize]
			be.PutUint64(y[0:], h.ID)
			clear(y[8:])
			y[8] = h.Flags
		}
		off += len(x)
	}
}

func (m *SessionsReply) unmarshal(b []byte) error {
	if len(b) < sessionsReplyHead {
		return ErrShort
	}
	n := be.Uint32(b[0:])
	if n > MaxSessionsPerReply {
		return ErrTooLarge
	}
	flags := be.Uint32(b[4:])
	if flags&^1 != 0 {
		return ErrFlags
	}
	m.More = flags&1 != 0
	m.NextSession = be.Uint64(b[8:])
	m.NextBlock = be.Uint64(b[16:])
	m.Sessions = make([]SessionInfo, n)
	rest := b[sessionsReplyHead:]
	for i := range m.Sessions {
		if len(rest) < sessionHeadSize {
			return ErrLength
		}
		held := int(be.Uint16(rest[20:]))
		size := sessionHeadSize + held*heldMapSize
		if len(rest) < size {
			return ErrLength
		}
		x := rest[:size]
		if x[23] != 0 || !zeroPadded(x[24:sessionHeadSize]) {
			return ErrReserved
		}
		s := &m.Sessions[i]
		s.ID = be.Uint64(x[0:])
		s.AgeMS = be.Uint64(x[8:])
		s.Maps = be.Uint32(x[16:])
		s.Flags = x[22]
		s.Peer = cString(x[24:sessionHeadSize])
		s.Held = nil
		if held > 0 {
			s.Held = make([]HeldMap, held)
		}
		for j := range s.Held {
			y := x[sessionHeadSize+j*heldMapSize:][:heldMapSize]
			if !allZero(y[9:]) {
				return ErrReserved
			}
			s.Held[j] = HeldMap{ID: be.Uint64(y[0:]), Flags: y[8]}
		}
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return ErrLength
	}
	return nil
}

// Revoke flags.
const (
	// RevokeBlock: revoke only the map of RevokeRequest.Block (else every
	// map of the session).
	RevokeBlock uint32 = 1 << 0
	// RevokeEnd: end the session after revoking its maps.
	RevokeEnd   uint32 = 1 << 1
	revokeKnown        = RevokeBlock | RevokeEnd
)

// RevokeRequest revokes maps held by other sessions, as their own Unmap
// would: the keys are dead when the reply is sent. Session 0 with
// RevokeBlock revokes the map of Block held by any session; with a session
// ID, RevokeBlock revokes that session's map of Block, else all its maps,
// and RevokeEnd ends it as well.
type RevokeRequest struct {
	Session, Block uint64
	Flags          uint32
}

// ValidRevokeFlags reports whether f names a revocation the brick serves:
// no unknown bit, and RevokeEnd only for one session's whole set of maps.
func ValidRevokeFlags(session uint64, f uint32) bool {
	switch {
	case f&^revokeKnown != 0:
		return false
	case session == 0:
		return f == RevokeBlock
	case f&RevokeEnd != 0:
		return f&RevokeBlock == 0
	}
	return true
}

func (*RevokeRequest) Type() Type { return TypeRevoke }
func (*RevokeRequest) size() int  { return revokeReqSize }
func (m *RevokeRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.Session)
	be.PutUint64(b[8:], m.Block)
	be.PutUint32(b[16:], m.Flags)
}
func (m *RevokeRequest) unmarshal(b []byte) error {
	if err := checkLen(b, revokeReqSize); err != nil {
		return err
	}
	m.Session = be.Uint64(b[0:])
	m.Block = be.Uint64(b[8:])
	m.Flags = be.Uint32(b[16:])
	return nil
}

// RevokeReply: Maps maps were revoked, held by Sessions sessions.
type RevokeReply struct{ Maps, Sessions uint32 }

func (*RevokeReply) Type() Type { return TypeRevoke | ReplyBit }
func (*RevokeReply) size() int  { return revokeReplySize }
func (m *RevokeReply) marshal(b []byte) {
	be.PutUint32(b[0:], m.Maps)
	be.PutUint32(b[4:], m.Sessions)
}
func (m *RevokeReply) unmarshal(b []byte) error {
	if err := checkLen(b, revokeReplySize); err != nil {
		return err
	}
	m.Maps = be.Uint32(b[0:])
	m.Sessions = be.Uint32(b[4:])
	return nil
}

// zeroPadded reports whether a NUL-padded string field has only NULs after
// its first NUL.
func zeroPadded(b []byte) bool {
	for i, c := range b {
		if c == 0 {
			return allZero(b[i:])
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
