package protocol

import (
	"encoding/binary"

	"github.com/brick-storage/brick/internal/crc32c"
)

// Frame constants.
const (
	Magic uint16 = 0xB71C
	// MinVersion and MaxVersion are the protocol versions this build
	// speaks; the hello picks the highest version both sides speak.
	MinVersion uint8 = 1
	MaxVersion uint8 = 1
	// Version is the version this build proposes and frames carry.
	Version = MaxVersion

	HeaderSize = 24
	// MaxMessage bounds a whole frame (header and payload); receive buffers
	// are this large.
	MaxMessage = 4096
	MaxPayload = MaxMessage - HeaderSize
	// MaxRequest bounds a request frame. Every request is a few dozen
	// bytes (TestMaxRequest checks each type), and a brick's receive
	// buffers are this large rather than MaxMessage: an idle session's
	// posted receives then fit one page instead of one page each. A
	// longer Send finds no room and ends the session, as a malformed
	// frame does. Replies, the list reply above all, use MaxMessage.
	MaxRequest = 256

	// ReplyBit marks a reply's type.
	ReplyBit Type = 0x80
)

// Header field offsets.
const (
	offMagic   = 0
	offVersion = 2
	offType    = 3
	offFlags   = 4
	offStatus  = 6
	offReqID   = 8
	offLength  = 16
	offCRC     = 20
)

// Type is a message type.
type Type uint8

// Request types; a reply is the request type | ReplyBit.
const (
	TypeAlloc   Type = 0x01
	TypeFree    Type = 0x02
	TypeMap     Type = 0x03
	TypeUnmap   Type = 0x04
	TypeList    Type = 0x05
	TypeStatus  Type = 0x06
	TypePersist Type = 0x07
	TypePing    Type = 0x08 // keep-alive; the reply is the pong
	TypeAuth    Type = 0x09 // authentication: the first frame when FeatureAuth

	// Admin verbs (admin.go).
	TypeFreeRange Type = 0x0A
	TypeSessions  Type = 0x0B
	TypeRevoke    Type = 0x0C

	// TypeAllocMap allocates a block and maps it in one request (offered
	// with FeatureAllocMap).
	TypeAllocMap Type = 0x0D
)

// Class is how a session dispatches a request type: the first decision the
// receive loop makes about a frame.
type Class uint8

const (
	// ClassVerb requests (alloc, free, map, unmap, list, status, alloc-map
	// and the admin verbs free-range, sessions, revoke) go to the
	// brick service through the session's bounded queue and are served in
	// order; they may block on metadata I/O.
	ClassVerb Class = iota
	// ClassFast requests (persist, ping) are served inline by the receive
	// loop: they never block on metadata and must not wait behind verbs.
	ClassFast
	// ClassAuth is the authentication exchange, the only request accepted
	// before a session is authenticated.
	ClassAuth
	// ClassUnknown is any other type (an error).
	ClassUnknown
)

// Class returns the dispatch class of request type t.
func (t Type) Class() Class {
	switch t {
	case TypeAlloc, TypeFree, TypeMap, TypeUnmap, TypeList, TypeStatus,
		TypeFreeRange, TypeSessions, TypeRevoke, TypeAllocMap:
		return ClassVerb
	case TypePersist, TypePing:
		return ClassFast
	case TypeAuth:
		return ClassAuth
	}
	return ClassUnknown
}

// IsReply reports whether t is a reply type.
func (t Type) IsReply() bool { return t&ReplyBit != 0 }

// Request returns the request type of a reply type (t itself for requests).
func (t Type) Request() Type { return t &^ ReplyBit }

var typeNames = [...]string{
	TypeAlloc:     "alloc",
	TypeFree:      "free",
	TypeMap:       "map",
	TypeUnmap:     "unmap",
	TypeList:      "list",
	TypeStatus:    "status",
	TypePersist:   "persist",
	TypePing:      "ping",
	TypeAuth:      "auth",
	TypeFreeRange: "free-range",
	TypeSessions:  "sessions",
	TypeRevoke:    "revoke",
	TypeAllocMap:  "alloc-map",
}

func (t Type) String() string {
	name := enumName(typeNames[:], t.Request(), "unknown")
	if t.IsReply() {
		return name + " reply"
	}
	return name
}

// Header is a frame header.
type Header struct {
	Type   Type
	Status Status
	ReqID  uint64
	Length uint32 // payload length
}

// Message is a frame payload.
type Message interface {
	// Type is the frame type that carries the message.
	Type() Type
	size() int
	marshal(b []byte)
	unmarshal(b []byte) error
}

// Encode writes a frame carrying m (nil for an error reply) into dst and
// returns its length. dst must hold HeaderSize+payload bytes.
func Encode(dst []byte, t Type, status Status, reqID uint64, m Message) (int, error) {
	n := 0
	if m != nil {
		if m.Type() != t {
			return 0, ErrType
		}
		n = m.size()
	}
	if n > MaxPayload {
		return 0, ErrTooLarge
	}
	if len(dst) < HeaderSize+n {
		return 0, ErrShort
	}
	f := dst[:HeaderSize+n]
	binary.BigEndian.PutUint16(f[offMagic:], Magic)
	f[offVersion] = Version
	f[offType] = byte(t)
	binary.BigEndian.PutUint16(f[offFlags:], 0)
	binary.BigEndian.PutUint16(f[offStatus:], uint16(status))
	binary.BigEndian.PutUint64(f[offReqID:], reqID)
	binary.BigEndian.PutUint32(f[offLength:], uint32(n))
	binary.BigEndian.PutUint32(f[offCRC:], 0)
	if m != nil {
		m.marshal(f[HeaderSize:])
	}
	binary.BigEndian.PutUint32(f[offCRC:], crc32c.Checksum(f))
	return len(f), nil
}

// DecodeHeader checks and parses a whole frame's header: magic, version,
// length (exactly len(frame)) and CRC. It returns the payload.
func DecodeHeader(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) < HeaderSize {
		return h, nil, ErrShort
	}
	if len(frame) > MaxMessage {
		return h, nil, ErrTooLarge
	}
	if binary.BigEndian.Uint16(frame[offMagic:]) != Magic {
		return h, nil, ErrMagic
	}
	if v := frame[offVersion]; v < MinVersion || v > MaxVersion {
		return h, nil, ErrVersion
	}
	h.Type = Type(frame[offType])
	if binary.BigEndian.Uint16(frame[offFlags:]) != 0 {
		return h, nil, ErrFlags
	}
	h.Status = Status(binary.BigEndian.Uint16(frame[offStatus:]))
	h.ReqID = binary.BigEndian.Uint64(frame[offReqID:])
	h.Length = binary.BigEndian.Uint32(frame[offLength:])
	if uint64(h.Length) != uint64(len(frame)-HeaderSize) {
		return h, nil, ErrLength
	}
	want := binary.BigEndian.Uint32(frame[offCRC:])
	c := crc32c.Checksum(frame[:offCRC])
	c = crc32c.Update(c, []byte{0, 0, 0, 0})
	c = crc32c.Update(c, frame[HeaderSize:])
	if c != want {
		return h, nil, ErrChecksum
	}
	return h, frame[HeaderSize:], nil
}

// Decode parses a whole frame into its header and typed message. An error
// reply (status not OK) decodes to a nil message.
func Decode(frame []byte) (Header, Message, error) {
	h, payload, err := DecodeHeader(frame)
	if err != nil {
		return h, nil, err
	}
	if h.Type.IsReply() && h.Status != StatusOK {
		if len(payload) != 0 {
			return h, nil, ErrLength
		}
		return h, nil, nil
	}
	if !h.Type.IsReply() && h.Status != StatusOK {
		return h, nil, ErrReqStatus
	}
	m := newMessage(h.Type)
	if m == nil {
		return h, nil, ErrType
	}
	if err := m.unmarshal(payload); err != nil {
		return h, nil, err
	}
	return h, m, nil
}
