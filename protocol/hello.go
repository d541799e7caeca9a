package protocol

// Hello sizes: under the InfiniBand CM private-data limits (56 bytes on
// connect, 196 on accept) so that the same hello works on every transport.
// A hello's length is fixed by its version; a later version may append
// fields, never move them.
const (
	HelloRequestSize = 16
	HelloReplySize   = 96

	// NonceSize is the size of the brick's and the client's challenges.
	NonceSize = 32
)

// Feature bits, negotiated in the hello. The client asks for the features
// it can use; the reply carries the intersection with what the brick
// offers, except FeatureAuth, which the brick sets when it requires
// authentication whether or not the client asked (a client that did not
// ask is rejected with StatusPermission). Unknown bits in a request are
// ignored, so that newer clients can talk to older bricks; a reply never
// has a bit the client did not ask for except FeatureAuth.
const (
	FeatureGPSPM         uint64 = 1 << 0 // persist method: PersistRequest is served
	FeatureAPM           uint64 = 1 << 1 // persist method: RDMA Read after the writes
	FeatureFlush         uint64 = 1 << 2 // persist method: native RDMA FLUSH
	FeatureAtomicWrite   uint64 = 1 << 3 // RDMA ATOMIC WRITE on mapped blocks
	FeatureMemoryWindows uint64 = 1 << 4 // map handles are type-2 memory windows
	FeatureAuth          uint64 = 1 << 5 // pre-shared-key authentication
	FeatureFreeUnmap     uint64 = 1 << 6 // FreeRequest takes FreeUnmap
	FeatureAllocMap      uint64 = 1 << 7 // AllocMapRequest is served
	FeatureUnmapKey      uint64 = 1 << 8 // UnmapRequest may name the handle's rkey

	// KnownFeatures is every bit this version defines.
	KnownFeatures = FeatureGPSPM | FeatureAPM | FeatureFlush | FeatureAtomicWrite |
		FeatureMemoryWindows | FeatureAuth | FeatureFreeUnmap | FeatureAllocMap | FeatureUnmapKey
)

// NegotiateVersion returns the highest version in both [min, max] and
// [MinVersion, MaxVersion], or false if the ranges do not meet.
func NegotiateVersion(lo, hi uint8) (uint8, bool) {
	v := min(hi, MaxVersion)
	if lo > hi || v < max(lo, MinVersion) {
		return 0, false
	}
	return v, true
}

// NegotiateFeatures returns the features of a session: those asked and
// offered, plus FeatureAuth when the brick requires it.
func NegotiateFeatures(asked, offered uint64, authRequired bool) uint64 {
	f := asked & offered &^ FeatureAuth
	if authRequired {
		f |= FeatureAuth
	}
	return f
}

// HelloRequest is the connection request's private data.
type HelloRequest struct {
	MinVersion, MaxVersion uint8
	Features               uint64
	RecvDepth              uint16 // replies the client can receive at once
}

// Marshal encodes the request.
func (m *HelloRequest) Marshal() []byte {
	b := make([]byte, HelloRequestSize)
	be.PutUint16(b[0:], Magic)
	b[2] = m.MinVersion
	b[3] = m.MaxVersion
	be.PutUint64(b[4:], m.Features)
	be.PutUint16(b[12:], m.RecvDepth)
	return b
}

// Unmarshal decodes a request, checking its exact length and magic. A
// transport may pad private data with zeros (InfiniBand's CM does): trailing
// zero bytes are accepted.
func (m *HelloRequest) Unmarshal(b []byte) error {
	b, err := trimPad(b, HelloRequestSize)
	if err != nil {
		return err
	}
	if be.Uint16(b[0:]) != Magic {
		return ErrMagic
	}
	if be.Uint16(b[14:]) != 0 {
		return ErrFlags
	}
	m.MinVersion, m.MaxVersion = b[2], b[3]
	if m.MinVersion > m.MaxVersion {
		return ErrVersion
	}
	m.Features = be.Uint64(b[4:])
	m.RecvDepth = be.Uint16(b[12:])
	return nil
}

// HelloReply is the accept (or reject) private data.
type HelloReply struct {
	Version    uint8
	Status     Status
	RecvDepth  uint16 // requests the client may have outstanding
	MaxMessage uint32
	Features   uint64
	UUID       [16]byte
	FrameSize  uint32
	Frames     uint64
	SessionID  uint64
	// TimeoutMS is how long, in milliseconds, the brick lets a session be
	// silent before it ends it (0: never). The client sends a ping when it
	// has sent nothing for a third of it.
	TimeoutMS uint32
	// Nonce is the brick's challenge when Features has FeatureAuth, zero
	// otherwise.
	Nonce [NonceSize]byte
}

// Marshal encodes the reply.
func (m *HelloReply) Marshal() []byte {
	b := make([]byte, HelloReplySize)
	be.PutUint16(b[0:], Magic)
	b[2] = m.Version
	b[3] = 0
	be.PutUint16(b[4:], uint16(m.Status))
	be.PutUint16(b[6:], m.RecvDepth)
	be.PutUint32(b[8:], m.MaxMessage)
	be.PutUint64(b[12:], m.Features)
	copy(b[20:36], m.UUID[:])
	be.PutUint32(b[36:], m.FrameSize)
	be.PutUint64(b[40:], m.Frames)
	be.PutUint64(b[48:], m.SessionID)
	be.PutUint32(b[56:], m.TimeoutMS)
	be.PutUint32(b[60:], 0)
	copy(b[64:96], m.Nonce[:])
	return b
}

// Unmarshal decodes a reply (trailing zero padding accepted).
func (m *HelloReply) Unmarshal(b []byte) error {
	b, err := trimPad(b, HelloReplySize)
	if err != nil {
		return err
	}
	if be.Uint16(b[0:]) != Magic {
		return ErrMagic
	}
	if b[3] != 0 || be.Uint32(b[60:]) != 0 {
		return ErrFlags
	}
	m.Version = b[2]
	m.Status = Status(be.Uint16(b[4:]))
	m.RecvDepth = be.Uint16(b[6:])
	m.MaxMessage = be.Uint32(b[8:])
	m.Features = be.Uint64(b[12:])
	copy(m.UUID[:], b[20:36])
	m.FrameSize = be.Uint32(b[36:])
	m.Frames = be.Uint64(b[40:])
	m.SessionID = be.Uint64(b[48:])
	m.TimeoutMS = be.Uint32(b[56:])
	copy(m.Nonce[:], b[64:96])
	return nil
}

// trimPad returns b[:n] if b is exactly n bytes or n bytes and zeros.
func trimPad(b []byte, n int) ([]byte, error) {
	if len(b) < n {
		return nil, ErrShort
	}
	for _, c := range b[n:] {
		if c != 0 {
			return nil, ErrLength
		}
	}
	return b[:n], nil
}
