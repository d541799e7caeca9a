package protocol

// Hello sizes: under the InfiniBand CM private-data limits (56 bytes on
// connect, 196 on accept) so that the same hello works on every transport.
const (
	HelloRequestSize = 16
	HelloReplySize   = 56
)

// Feature bits, negotiated in the hello: the reply carries the intersection
// of what the client asked for and what the brick offers.
const (
	FeatureGPSPM uint64 = 1 << 0 // PersistRequest is served
	FeatureAPM   uint64 = 1 << 1
	FeatureFlush uint64 = 1 << 2
)

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
	if b[3] != 0 {
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
