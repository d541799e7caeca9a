package protocol

import "encoding/binary"

var be = binary.BigEndian

// BlockSize is the unit of the protocol: block IDs are multiples of it and a
// map covers one block. The brick's frames (pmem.FrameSize) and tier slots
// hold one block each.
const BlockSize = 2 << 20

// Map flags.
const (
	MapReadOnly  uint32 = 1 << 0
	MapReadWrite uint32 = 1 << 1
	MapShared    uint32 = 1 << 2 // RW maps: coexist with other shared RW maps
	mapKnown            = MapReadOnly | MapReadWrite | MapShared
)

// Free flags.
const (
	// FreeUnmap: revoke the session's own map of the block first.
	FreeUnmap uint32 = 1 << 0
	// FreeKeyed, with FreeUnmap: the map to revoke is the one whose handle
	// has the request's RKey, as a keyed Unmap names it (the 16-byte
	// request; only to a brick that offered FeatureUnmapKey).
	FreeKeyed uint32 = 1 << 1
	freeKnown        = FreeUnmap | FreeKeyed
)

// ValidFreeFlags reports whether f has no bit this version does not know,
// and FreeKeyed only with FreeUnmap.
func ValidFreeFlags(f uint32) bool {
	return f&^freeKnown == 0 && (f&FreeKeyed == 0 || f&FreeUnmap != 0)
}

// Access in a MapReply.
const (
	AccessRead  uint8 = 1 << 0
	AccessWrite uint8 = 1 << 1
)

// PersistMethod tells the client how to make its writes persistent.
type PersistMethod uint8

// Persist methods. The numbers are part of the wire protocol.
const (
	PersistNone  PersistMethod = 0 // volatile memory: nothing is persistent
	PersistGPSPM PersistMethod = 1 // send a PersistRequest; the brick flushes
	PersistAPM   PersistMethod = 2 // a small RDMA Read after the writes
	PersistFlush PersistMethod = 3 // native RDMA FLUSH
)

var persistMethodNames = [...]string{PersistNone: "none (volatile)", PersistGPSPM: "gpspm", PersistAPM: "apm", PersistFlush: "flush"}

func (m PersistMethod) String() string { return enumName(persistMethodNames[:], m, "unknown") }

// Feature is the hello feature that asks for m (0 for PersistNone).
func (m PersistMethod) Feature() uint64 {
	switch m {
	case PersistGPSPM:
		return FeatureGPSPM
	case PersistAPM:
		return FeatureAPM
	case PersistFlush:
		return FeatureFlush
	}
	return 0
}

// PersistMethods is a set of persist methods, bit 1<<m for method m: the
// methods a StatusReply says some session may be given.
type PersistMethods uint8

// With returns s with m added.
func (s PersistMethods) With(m PersistMethod) PersistMethods { return s | 1<<m }

// Has reports whether m is in s.
func (s PersistMethods) Has(m PersistMethod) bool { return s&(1<<m) != 0 }

// List returns the methods in s, in ascending order; a bit that names no
// method is left out.
func (s PersistMethods) List() []PersistMethod {
	var out []PersistMethod
	for m := PersistGPSPM; m <= PersistFlush; m++ {
		if s.Has(m) {
			out = append(out, m)
		}
	}
	return out
}

// Message sizes.
const (
	idSize          = 8
	freeFlagsSize   = idSize + 4
	freeKeyedSize   = freeFlagsSize + 4
	unmapKeyedSize  = idSize + 4
	mapRequestSize  = 12
	MapReplySize    = 24
	listRequestSize = 20
	listReplyHead   = 16
	extentSize      = 24
	statusReplyBase = 64 // the fields before the persistence posture
	statusReplyHead = statusReplyBase + 8
	ddioDeviceSize  = 104
	ddioNameSize    = 64 // IB_DEVICE_NAME_MAX
	pciAddrSize     = 16
	statusTierSize  = 24 // the slow-tier trailer after the devices
	// MaxStatusDevices bounds the RDMA devices a StatusReply describes.
	MaxStatusDevices  = 32
	persistReqSize    = 24
	authRequestSize   = ProofSize + NonceSize
	authReplySize     = ProofSize
	MaxExtentsPerList = (MaxPayload - listReplyHead) / extentSize
)

func checkLen(b []byte, n int) error {
	if len(b) != n {
		return ErrLength
	}
	return nil
}

// AllocRequest asks for block ID.
type AllocRequest struct{ ID uint64 }

// FreeRequest frees block ID. With FreeUnmap in Flags the brick first
// revokes the session's own map of the block, so that a client releases a
// block it holds in one round trip instead of Unmap then Free; a map by
// another session still makes the Free EBUSY. A request without flags is
// 8 bytes, the layout of every brick; one with flags is 12, and a client
// sends it only to a brick that offered FeatureFreeUnmap.
type FreeRequest struct {
	ID    uint64
	Flags uint32
	RKey  uint32 // sent with FreeKeyed only
}

// UnmapRequest revokes this session's map of block ID. Keyed, it names the
// map by its handle's RKey as well, and a map with another key is not
// revoked (StatusNotMapped): a handle whose map an administrator revoked
// cannot revoke the block's next map by the same session. A client sends
// the keyed form only to a brick that offered FeatureUnmapKey.
type UnmapRequest struct {
	ID    uint64
	RKey  uint32
	Keyed bool
}

func (*AllocRequest) Type() Type { return TypeAlloc }
func (*FreeRequest) Type() Type  { return TypeFree }
func (*UnmapRequest) Type() Type { return TypeUnmap }

func (*AllocRequest) size() int { return idSize }
func (m *FreeRequest) size() int {
	switch {
	case m.Flags == 0:
		return idSize
	case m.Flags&FreeKeyed != 0:
		return freeKeyedSize
	}
	return freeFlagsSize
}
func (m *UnmapRequest) size() int {
	if !m.Keyed {
		return idSize
	}
	return unmapKeyedSize
}

func (m *AllocRequest) marshal(b []byte) { be.PutUint64(b, m.ID) }
func (m *FreeRequest) marshal(b []byte) {
	be.PutUint64(b, m.ID)
	if m.Flags != 0 {
		be.PutUint32(b[idSize:], m.Flags)
	}
	if m.Flags&FreeKeyed != 0 {
		be.PutUint32(b[freeFlagsSize:], m.RKey)
	}
}
func (m *UnmapRequest) marshal(b []byte) {
	be.PutUint64(b, m.ID)
	if m.Keyed {
		be.PutUint32(b[idSize:], m.RKey)
	}
}

func (m *AllocRequest) unmarshal(b []byte) error { return unmarshalID(b, &m.ID) }

// unmarshal takes any of the three layouts. Each request has one
// encoding: flags need the 12-byte one, FreeKeyed the 16-byte one, and
// a length the flags do not call for is refused.
func (m *FreeRequest) unmarshal(b []byte) error {
	if len(b) == idSize {
		return unmarshalID(b, &m.ID)
	}
	if len(b) < freeFlagsSize {
		return checkLen(b, freeFlagsSize)
	}
	m.ID, m.Flags = be.Uint64(b), be.Uint32(b[idSize:])
	if m.Flags == 0 || len(b) != m.size() {
		return ErrLength
	}
	if m.Flags&FreeKeyed != 0 {
		m.RKey = be.Uint32(b[freeFlagsSize:])
	}
	return nil
}

// unmarshal takes either layout: the length says whether it is keyed.
func (m *UnmapRequest) unmarshal(b []byte) error {
	if len(b) == idSize {
		return unmarshalID(b, &m.ID)
	}
	if err := checkLen(b, unmapKeyedSize); err != nil {
		return err
	}
	m.ID, m.RKey, m.Keyed = be.Uint64(b), be.Uint32(b[idSize:]), true
	return nil
}

func unmarshalID(b []byte, id *uint64) error {
	if err := checkLen(b, idSize); err != nil {
		return err
	}
	*id = be.Uint64(b)
	return nil
}

// MapRequest maps block ID with Flags (MapReadOnly or MapReadWrite, and
// optionally MapShared).
type MapRequest struct {
	ID    uint64
	Flags uint32
}

func (*MapRequest) Type() Type { return TypeMap }
func (*MapRequest) size() int  { return mapRequestSize }
func (m *MapRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.ID)
	be.PutUint32(b[8:], m.Flags)
}
func (m *MapRequest) unmarshal(b []byte) error {
	if err := checkLen(b, mapRequestSize); err != nil {
		return err
	}
	m.ID = be.Uint64(b[0:])
	m.Flags = be.Uint32(b[8:])
	return nil
}

// ValidFlags reports whether exactly one of read-only/read-write is set and
// no unknown bit is.
func ValidMapFlags(f uint32) bool {
	if f&^mapKnown != 0 {
		return false
	}
	ro, rw := f&MapReadOnly != 0, f&MapReadWrite != 0
	return ro != rw
}

// MapReply is the RDMA handle of a mapped block.
type MapReply struct {
	RKey   uint32
	Access uint8 // AccessRead, AccessWrite
	Method PersistMethod
	Addr   uint64 // remote address of the block's first byte
	Length uint64 // 2 MiB
}

func (*MapReply) Type() Type { return TypeMap | ReplyBit }
func (*MapReply) size() int  { return MapReplySize }
func (m *MapReply) marshal(b []byte) {
	be.PutUint32(b[0:], m.RKey)
	b[4] = m.Access
	b[5] = uint8(m.Method)
	be.PutUint16(b[6:], 0)
	be.PutUint64(b[8:], m.Addr)
	be.PutUint64(b[16:], m.Length)
}
func (m *MapReply) unmarshal(b []byte) error {
	if err := checkLen(b, MapReplySize); err != nil {
		return err
	}
	m.RKey = be.Uint32(b[0:])
	m.Access = b[4]
	m.Method = PersistMethod(b[5])
	m.Addr = be.Uint64(b[8:])
	m.Length = be.Uint64(b[16:])
	return nil
}

// AllocMapRequest allocates block ID and maps it with Flags (as a
// MapRequest's) in one round trip: the brick places the new block in a
// zeroed frame and commits its allocation, placement and, for a read-write
// map, the read-write mark as one durable record. If the map cannot be
// granted, the block is not left allocated. A client sends it only to a
// brick that offered FeatureAllocMap. The layout is a MapRequest's.
type AllocMapRequest struct{ MapRequest }

func (*AllocMapRequest) Type() Type { return TypeAllocMap }

// AllocMapReply is the new block's RDMA handle, laid out as a MapReply.
type AllocMapReply struct{ MapReply }

func (*AllocMapReply) Type() Type { return TypeAllocMap | ReplyBit }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// cString is a NUL-padded string field.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// PersistRequest asks the brick to make [Offset, Offset+Length) of block ID
// persistent (the GPSPM method).
type PersistRequest struct {
	ID, Offset, Length uint64
}

func (*PersistRequest) Type() Type { return TypePersist }
func (*PersistRequest) size() int  { return persistReqSize }
func (m *PersistRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.ID)
	be.PutUint64(b[8:], m.Offset)
	be.PutUint64(b[16:], m.Length)
}
func (m *PersistRequest) unmarshal(b []byte) error {
	if err := checkLen(b, persistReqSize); err != nil {
		return err
	}
	m.ID = be.Uint64(b[0:])
	m.Offset = be.Uint64(b[8:])
	m.Length = be.Uint64(b[16:])
	return nil
}

// PingRequest is a keep-alive: the brick answers with an empty ping reply
// (the pong). Either a request or its reply proves the peer alive.
type PingRequest struct{}

func (*PingRequest) Type() Type               { return TypePing }
func (*PingRequest) size() int                { return 0 }
func (*PingRequest) marshal([]byte)           {}
func (*PingRequest) unmarshal(b []byte) error { return checkLen(b, 0) }

// AuthRequest is the client's answer to the brick's challenge: its proof
// of the key over the session transcript, and its own challenge.
type AuthRequest struct {
	Proof [ProofSize]byte
	Nonce [NonceSize]byte
}

func (*AuthRequest) Type() Type { return TypeAuth }
func (*AuthRequest) size() int  { return authRequestSize }
func (m *AuthRequest) marshal(b []byte) {
	copy(b[0:ProofSize], m.Proof[:])
	copy(b[ProofSize:], m.Nonce[:])
}
func (m *AuthRequest) unmarshal(b []byte) error {
	if err := checkLen(b, authRequestSize); err != nil {
		return err
	}
	copy(m.Proof[:], b[0:ProofSize])
	copy(m.Nonce[:], b[ProofSize:])
	return nil
}

// AuthReply is the brick's proof of the key over the same transcript.
type AuthReply struct {
	Proof [ProofSize]byte
}

func (*AuthReply) Type() Type         { return TypeAuth | ReplyBit }
func (*AuthReply) size() int          { return authReplySize }
func (m *AuthReply) marshal(b []byte) { copy(b, m.Proof[:]) }
func (m *AuthReply) unmarshal(b []byte) error {
	if err := checkLen(b, authReplySize); err != nil {
		return err
	}
	copy(m.Proof[:], b)
	return nil
}

// EmptyReply is the successful reply to Alloc, Free, Unmap, Persist and
// Ping.
type EmptyReply struct{ T Type }

func (m *EmptyReply) Type() Type             { return m.T }
func (*EmptyReply) size() int                { return 0 }
func (*EmptyReply) marshal([]byte)           {}
func (*EmptyReply) unmarshal(b []byte) error { return checkLen(b, 0) }

// newMessage returns an empty message for frame type t, nil if unknown.
func newMessage(t Type) Message {
	switch t {
	case TypeAlloc:
		return &AllocRequest{}
	case TypeFree:
		return &FreeRequest{}
	case TypeMap:
		return &MapRequest{}
	case TypeUnmap:
		return &UnmapRequest{}
	case TypeList:
		return &ListRequest{}
	case TypeStatus:
		return &StatusRequest{}
	case TypePersist:
		return &PersistRequest{}
	case TypePing:
		return &PingRequest{}
	case TypeAuth:
		return &AuthRequest{}
	case TypeAuth | ReplyBit:
		return &AuthReply{}
	case TypeMap | ReplyBit:
		return &MapReply{}
	case TypeList | ReplyBit:
		return &ListReply{}
	case TypeStatus | ReplyBit:
		return &StatusReply{}
	case TypeFreeRange:
		return &FreeRangeRequest{}
	case TypeFreeRange | ReplyBit:
		return &FreeRangeReply{}
	case TypeSessions:
		return &SessionsRequest{}
	case TypeSessions | ReplyBit:
		return &SessionsReply{}
	case TypeRevoke:
		return &RevokeRequest{}
	case TypeRevoke | ReplyBit:
		return &RevokeReply{}
	case TypeAllocMap:
		return &AllocMapRequest{}
	case TypeAllocMap | ReplyBit:
		return &AllocMapReply{}
	case TypeAlloc | ReplyBit, TypeFree | ReplyBit, TypeUnmap | ReplyBit, TypePersist | ReplyBit,
		TypePing | ReplyBit:
		return &EmptyReply{T: t}
	}
	return nil
}
