package protocol

import (
	"encoding/binary"
	"hash/crc32"
)

// Frame constants.
const (
	Magic   uint16 = 0xB71C
	Version uint8  = 1 // the only version this build speaks

	HeaderSize = 24
	// MaxMessage bounds a whole frame (header and payload); receive buffers
	// are this large.
	MaxMessage = 4096
	MaxPayload = MaxMessage - HeaderSize

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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
)

// IsReply reports whether t is a reply type.
func (t Type) IsReply() bool { return t&ReplyBit != 0 }

// Request returns the request type of a reply type (t itself for requests).
func (t Type) Request() Type { return t &^ ReplyBit }

func (t Type) String() string {
	name := "unknown"
	switch t.Request() {
	case TypeAlloc:
		name = "alloc"
	case TypeFree:
		name = "free"
	case TypeMap:
		name = "map"
	case TypeUnmap:
		name = "unmap"
	case TypeList:
		name = "list"
	case TypeStatus:
		name = "status"
	case TypePersist:
		name = "persist"
	}
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
	binary.BigEndian.PutUint32(f[offCRC:], crc32.Checksum(f, castagnoli))
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
	if frame[offVersion] != Version {
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
	c := crc32.Update(0, castagnoli, frame[:offCRC])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, frame[HeaderSize:])
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
