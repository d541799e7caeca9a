package protocol

import (
	"errors"
	"reflect"
	"testing"
)

func sampleMessages() []struct {
	t Type
	m Message
} {
	return []struct {
		t Type
		m Message
	}{
		{TypeAlloc, &AllocRequest{ID: 0x200000}},
		{TypeFree, &FreeRequest{ID: 0xFFFFFFFFFFE00000}},
		{TypeMap, &MapRequest{ID: 0x400000, Flags: MapReadWrite | MapShared}},
		{TypeUnmap, &UnmapRequest{ID: 0x600000}},
		{TypeList, &ListRequest{First: 0, Last: ^uint64(0), Max: 10}},
		{TypeStatus, &StatusRequest{}},
		{TypePersist, &PersistRequest{ID: 0x200000, Offset: 4096, Length: 8192}},
		{TypeMap | ReplyBit, &MapReply{RKey: 0xdeadbeef, Access: AccessRead | AccessWrite, Method: PersistGPSPM, Addr: 0x7f0000000000, Length: 2 << 20}},
		{TypeList | ReplyBit, &ListReply{Extents: []Extent{{First: 0, Blocks: 3, State: StateResident}, {First: 0x800000, Blocks: 1, State: StateUnclean}}, More: true, Next: 0xa00000}},
		{TypeList | ReplyBit, &ListReply{Extents: []Extent{}}},
		{TypeStatus | ReplyBit, &StatusReply{Frames: 511, FreeFrames: 500, Blocks: 11, Mapped: 1, Unclean: 2, Sessions: 3, Backend: BackendFile, Persistent: true, Methods: 2, UUID: [16]byte{1, 2, 3}}},
		{TypeAlloc | ReplyBit, &EmptyReply{T: TypeAlloc | ReplyBit}},
		{TypePersist | ReplyBit, &EmptyReply{T: TypePersist | ReplyBit}},
	}
}

func TestRoundTrip(t *testing.T) {
	buf := make([]byte, MaxMessage)
	for _, tc := range sampleMessages() {
		t.Run(tc.t.String(), func(t *testing.T) {
			n, err := Encode(buf, tc.t, StatusOK, 42, tc.m)
			if err != nil {
				t.Fatal(err)
			}
			h, m, err := Decode(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			if h.Type != tc.t || h.ReqID != 42 || h.Status != StatusOK {
				t.Fatalf("header %+v", h)
			}
			if !reflect.DeepEqual(m, tc.m) {
				t.Fatalf("got %#v want %#v", m, tc.m)
			}
		})
	}
}

func TestErrorReply(t *testing.T) {
	buf := make([]byte, MaxMessage)
	n, err := Encode(buf, TypeAlloc|ReplyBit, StatusExist, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, m, err := Decode(buf[:n])
	if err != nil || m != nil {
		t.Fatalf("m=%v err=%v", m, err)
	}
	if !errors.Is(h.Status.Err(), ErrExist) {
		t.Fatalf("status %v", h.Status)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := make([]byte, MaxMessage)
	n, _ := Encode(good, TypeMap, StatusOK, 1, &MapRequest{ID: 0x200000, Flags: MapReadOnly})
	good = good[:n]
	mut := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	reencode := func(b []byte) []byte { // fix up the CRC after a mutation
		be.PutUint32(b[offCRC:], 0)
		c := crcOf(b)
		be.PutUint32(b[offCRC:], c)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:10], ErrShort},
		{"truncated payload", good[:n-1], ErrLength},
		{"extra byte", mut(func(b []byte) []byte { return append(b, 0) }), ErrLength},
		{"magic", mut(func(b []byte) []byte { b[0] = 0; return b }), ErrMagic},
		{"version", mut(func(b []byte) []byte { b[offVersion] = 9; return b }), ErrVersion},
		{"crc", mut(func(b []byte) []byte { b[HeaderSize] ^= 1; return b }), ErrChecksum},
		{"flags", mut(func(b []byte) []byte { b[offFlags] = 1; return reencode(b) }), ErrFlags},
		{"unknown type", mut(func(b []byte) []byte { b[offType] = 0x55; return reencode(b) }), ErrType},
		{"request with status", mut(func(b []byte) []byte { b[offStatus+1] = 1; return reencode(b) }), ErrReqStatus},
		{"oversize", make([]byte, MaxMessage+1), ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v does not wrap ErrProtocol", err)
			}
		})
	}
}

func TestEncodeTooLarge(t *testing.T) {
	buf := make([]byte, 2*MaxMessage)
	m := &ListReply{Extents: make([]Extent, MaxExtentsPerList+1)}
	if _, err := Encode(buf, m.Type(), StatusOK, 1, m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err=%v", err)
	}
	m.Extents = m.Extents[:MaxExtentsPerList]
	if _, err := Encode(buf, m.Type(), StatusOK, 1, m); err != nil {
		t.Fatal(err)
	}
}

func TestStatusMapping(t *testing.T) {
	for s := StatusExist; s <= StatusLimit; s++ {
		if got := StatusOf(s.Err()); got != s {
			t.Errorf("StatusOf(%v)=%v", s, got)
		}
	}
	if StatusOf(errors.New("disk on fire")) != StatusInternal {
		t.Error("unknown error not internal")
	}
	if StatusOf(ErrChecksum) != StatusProtocol {
		t.Error("decode error not StatusProtocol")
	}
	if !errors.Is(Status(999).Err(), ErrProtocol) {
		t.Error("unknown status must be a protocol error")
	}
}

func TestMapFlags(t *testing.T) {
	for f, ok := range map[uint32]bool{
		MapReadOnly: true, MapReadWrite: true, MapReadWrite | MapShared: true, MapReadOnly | MapShared: true,
		0: false, MapReadOnly | MapReadWrite: false, 1 << 9: false, MapShared: false,
	} {
		if ValidMapFlags(f) != ok {
			t.Errorf("flags %#x: want %v", f, ok)
		}
	}
}

func TestHello(t *testing.T) {
	req := HelloRequest{MinVersion: 1, MaxVersion: 1, Features: FeatureGPSPM, RecvDepth: 16}
	b := req.Marshal()
	if len(b) > 56 {
		t.Fatalf("hello request %d bytes, over the IB connect limit", len(b))
	}
	var got HelloRequest
	if err := got.Unmarshal(append(b, 0, 0, 0)); err != nil || got != req {
		t.Fatalf("got %+v err %v", got, err)
	}
	rep := HelloReply{Version: 1, RecvDepth: 32, MaxMessage: MaxMessage, Features: FeatureGPSPM, UUID: [16]byte{9}, FrameSize: 2 << 20, Frames: 511, SessionID: 5}
	rb := rep.Marshal()
	if len(rb) > 196 {
		t.Fatalf("hello reply %d bytes, over the IB accept limit", len(rb))
	}
	var grep HelloReply
	if err := grep.Unmarshal(rb); err != nil || grep != rep {
		t.Fatalf("got %+v err %v", grep, err)
	}
	for name, bad := range map[string][]byte{
		"short":   b[:5],
		"magic":   append([]byte{0, 0}, b[2:]...),
		"padding": append(append([]byte(nil), b...), 1),
		"minmax":  (&HelloRequest{MinVersion: 3, MaxVersion: 1}).Marshal(),
	} {
		if err := new(HelloRequest).Unmarshal(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err=%v", name, err)
		}
	}
}
