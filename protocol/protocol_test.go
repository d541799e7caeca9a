package protocol

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
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
		{TypeStatus | ReplyBit, &StatusReply{Frames: 511, FreeFrames: 500, Blocks: 11, Mapped: 1, Unclean: 2, Sessions: 3, Backend: BackendFile, Persistent: true, Methods: 2, UUID: [16]byte{1, 2, 3}, TierSlots: 64, TierFreeSlots: 60, Tiered: 4}},
		{TypeStatus | ReplyBit, &StatusReply{Frames: 5, Backend: BackendOther, Capabilities: CapCPUFlush, CPUFlush: CPUFlushOther, Persistent: true, Methods: 14}},
		{TypeStatus | ReplyBit, &StatusReply{Frames: 7, Backend: BackendDevDAX, Capabilities: CapCPUFlush, CPUFlush: CPUFlushCLWB, Persistent: true, Methods: 14, UUID: [16]byte{9},
			Domain: 2, PlatformDomain: 2, DDIOPolicy: 1, SoftwareRNIC: true, SoftwareDDIO: 3,
			Devices: []DDIODevice{{Name: "mlx5_0", PCI: "0000:3b:00.0", RootPort: "0000:3a:00.0", Platform: 1, State: 2},
				{Name: "rxe0", Reason: 6}, {Name: strings.Repeat("n", 64), PCI: "0000:ff:1f.7", RootPort: "ffff:ff:1f.7", Platform: 5, State: 3, Reason: 1}}}},
		{TypeAlloc | ReplyBit, &EmptyReply{T: TypeAlloc | ReplyBit}},
		{TypePersist | ReplyBit, &EmptyReply{T: TypePersist | ReplyBit}},
		{TypePing, &PingRequest{}},
		{TypePing | ReplyBit, &EmptyReply{T: TypePing | ReplyBit}},
		{TypeAuth, &AuthRequest{Proof: [ProofSize]byte{1, 2, 3}, Nonce: [NonceSize]byte{31: 9}}},
		{TypeAuth | ReplyBit, &AuthReply{Proof: [ProofSize]byte{0: 0xff, 31: 0xee}}},
		{TypeFreeRange, &FreeRangeRequest{First: 0x200000, Last: 0x3a00000}},
		{TypeFreeRange | ReplyBit, &FreeRangeReply{Freed: 27, Busy: 2, More: true, Next: 0x4000000, FirstBusy: 0x600000}},
		{TypeSessions, &SessionsRequest{Session: 7, Block: 0x400000, Max: 3}},
		{TypeSessions | ReplyBit, &SessionsReply{Sessions: []SessionInfo{
			{ID: 1, AgeMS: 61_000, Maps: 2, Flags: SessionReady | SessionKeyProved, Peer: "127.0.0.1:40312",
				Held: []HeldMap{{ID: 0x200000, Flags: HeldRW}, {ID: 0x400000, Flags: HeldRW | HeldShared | HeldRevoking}}},
			{ID: 2, AgeMS: 5, Flags: SessionSelf | SessionReady, Peer: strings.Repeat("6", PeerSize)},
		}, More: true, NextSession: 3, NextBlock: 0}},
		{TypeSessions | ReplyBit, &SessionsReply{Sessions: []SessionInfo{}}},
		{TypeRevoke, &RevokeRequest{Session: 4, Block: 0x200000, Flags: RevokeBlock}},
		{TypeRevoke | ReplyBit, &RevokeReply{Maps: 3, Sessions: 1}},
		{TypeFree, &FreeRequest{ID: 0x200000, Flags: FreeUnmap}},
		{TypeUnmap, &UnmapRequest{ID: 0x600000, RKey: 0xabcd0001, Keyed: true}},
		{TypeFree, &FreeRequest{ID: 0x800000, Flags: FreeUnmap | FreeKeyed, RKey: 0xabcd0002}},
		{TypeAllocMap, &AllocMapRequest{MapRequest{ID: 0x800000, Flags: MapReadWrite}}},
		{TypeAllocMap | ReplyBit, &AllocMapReply{MapReply{RKey: 0x1234, Access: AccessRead | AccessWrite, Method: PersistFlush, Addr: 0x200000, Length: 2 << 20}}},
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
	for s := StatusExist; s <= StatusMax; s++ {
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
	busy := Refine(ErrBusy, "brick: test: block busy below")
	if err := fmt.Errorf("block 0x200000: %w", busy); StatusOf(err) != StatusBusy || !errors.Is(err, busy) || errors.Is(ErrBusy, busy) {
		t.Errorf("refined sentinel: status %v, matches itself %v, matched by its parent %v", StatusOf(err), errors.Is(err, busy), errors.Is(ErrBusy, busy))
	}
	if ErrNoSession.Error() != "brick: no such session" || StatusNoSession.Label() != "enosession" || StatusOK.Label() != "ok" {
		t.Errorf("status sentinel or label: %q, %q, %q", ErrNoSession, StatusNoSession.Label(), StatusOK.Label())
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

// TestFreeLayouts: a Free without flags is the 8-byte request every brick
// knows, one with flags the 12-byte one; a 12-byte request with no flag
// set, or a length between, is refused.
func TestFreeLayouts(t *testing.T) {
	buf := make([]byte, MaxMessage)
	for _, tc := range []struct {
		flags   uint32
		payload int
	}{{0, 8}, {FreeUnmap, 12}, {FreeUnmap | FreeKeyed, 16}} {
		n, err := Encode(buf, TypeFree, StatusOK, 1, &FreeRequest{ID: 0x200000, Flags: tc.flags})
		if err != nil || n != HeaderSize+tc.payload {
			t.Fatalf("flags %#x: encoded %d bytes (%v), want %d", tc.flags, n, err, HeaderSize+tc.payload)
		}
	}
	flagged := func(n int, flags uint32) []byte { b := make([]byte, n); be.PutUint32(b[8:], flags); return b }
	for _, b := range [][]byte{make([]byte, 12), make([]byte, 10), make([]byte, 16),
		flagged(16, FreeUnmap), flagged(12, FreeUnmap|FreeKeyed), flagged(20, FreeUnmap|FreeKeyed)} {
		var m FreeRequest
		if err := m.unmarshal(b); !errors.Is(err, ErrLength) {
			t.Errorf("%d-byte free request %x: got %v, want ErrLength", len(b), b, err)
		}
	}
	want := FreeRequest{ID: 0x200000, Flags: FreeUnmap | FreeKeyed, RKey: 0xfeed}
	var got FreeRequest
	n, _ := Encode(buf, TypeFree, StatusOK, 1, &want)
	if err := got.unmarshal(buf[HeaderSize:n]); err != nil || got != want {
		t.Errorf("keyed free decoded as %+v, %v", got, err)
	}
	if !ValidFreeFlags(FreeUnmap) || !ValidFreeFlags(0) || ValidFreeFlags(1<<3) ||
		!ValidFreeFlags(FreeUnmap|FreeKeyed) || ValidFreeFlags(FreeKeyed) {
		t.Error("ValidFreeFlags: want 0, FreeUnmap and FreeUnmap|FreeKeyed valid; unknown bits and FreeKeyed alone not")
	}
}

// TestUnmapLayouts: an Unmap is the 8-byte request every brick knows, or
// the 12-byte keyed one; the length alone says which, and any other length
// is refused.
func TestUnmapLayouts(t *testing.T) {
	buf := make([]byte, MaxMessage)
	for _, want := range []UnmapRequest{{ID: 0x200000}, {ID: 0x200000, Keyed: true}, {ID: 0x400000, RKey: 7, Keyed: true}} {
		n, err := Encode(buf, TypeUnmap, StatusOK, 1, &want)
		if err != nil || n != HeaderSize+want.size() {
			t.Fatalf("%+v: encoded %d bytes (%v)", want, n, err)
		}
		var got UnmapRequest
		if err := got.unmarshal(buf[HeaderSize:n]); err != nil || got != want {
			t.Fatalf("%+v: decoded %+v, %v", want, got, err)
		}
	}
	if n := (&UnmapRequest{ID: 1, RKey: 9}).size(); n != 8 {
		t.Errorf("an unkeyed Unmap with an RKey is %d bytes; the key must not be sent", n)
	}
	for _, b := range [][]byte{make([]byte, 10), make([]byte, 16), make([]byte, 4)} {
		var m UnmapRequest
		if err := m.unmarshal(b); !errors.Is(err, ErrLength) && !errors.Is(err, ErrShort) {
			t.Errorf("%d-byte unmap request: got %v, want a length error", len(b), err)
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
	rep := HelloReply{Version: 1, RecvDepth: 32, MaxMessage: MaxMessage, Features: FeatureGPSPM | FeatureAuth, UUID: [16]byte{9},
		FrameSize: 2 << 20, Frames: 511, SessionID: 5, TimeoutMS: 30000, Nonce: [NonceSize]byte{1, 31: 2}}
	rb := rep.Marshal()
	if len(rb) != HelloReplySize || len(rb) > 196 {
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
	for name, bad := range map[string][]byte{
		"old 56-byte reply": rb[:56],
		"reserved byte":     func() []byte { b := append([]byte(nil), rb...); b[3] = 1; return b }(),
		"reserved word":     func() []byte { b := append([]byte(nil), rb...); b[61] = 1; return b }(),
		"trailing junk":     append(append([]byte(nil), rb...), 7),
	} {
		if err := new(HelloReply).Unmarshal(bad); !errors.Is(err, ErrProtocol) {
			t.Errorf("reply %s: err=%v", name, err)
		}
	}
}

func TestNegotiateVersion(t *testing.T) {
	cases := []struct {
		lo, hi uint8
		want   uint8
		ok     bool
	}{
		{1, 1, 1, true},
		{0, 1, 1, true},
		{1, 9, MaxVersion, true},
		{0, 0, 0, false},
		{2, 9, 0, false},
		{3, 1, 0, false},
	}
	for _, tc := range cases {
		v, ok := NegotiateVersion(tc.lo, tc.hi)
		if v != tc.want || ok != tc.ok {
			t.Errorf("NegotiateVersion(%d, %d) = %d, %v; want %d, %v", tc.lo, tc.hi, v, ok, tc.want, tc.ok)
		}
	}
}

func TestNegotiateFeatures(t *testing.T) {
	cases := []struct {
		asked, offered uint64
		auth           bool
		want           uint64
	}{
		{FeatureGPSPM | FeatureFlush, FeatureGPSPM, false, FeatureGPSPM},
		{FeatureGPSPM | 1<<40, FeatureGPSPM | FeatureAPM, false, FeatureGPSPM}, // unknown bits ignored
		{FeatureAuth, FeatureAuth, false, 0},                                   // a brick without a key
		{0, FeatureGPSPM, true, FeatureAuth},                                   // auth is imposed, not asked
		{KnownFeatures, KnownFeatures, true, KnownFeatures},
	}
	for _, tc := range cases {
		if got := NegotiateFeatures(tc.asked, tc.offered, tc.auth); got != tc.want {
			t.Errorf("NegotiateFeatures(%#x, %#x, %v) = %#x, want %#x", tc.asked, tc.offered, tc.auth, got, tc.want)
		}
	}
}

func TestClass(t *testing.T) {
	want := map[Type]Class{
		TypeAlloc: ClassVerb, TypeFree: ClassVerb, TypeMap: ClassVerb, TypeUnmap: ClassVerb,
		TypeList: ClassVerb, TypeStatus: ClassVerb, TypePersist: ClassFast, TypePing: ClassFast,
		TypeAuth: ClassAuth, TypeFreeRange: ClassVerb, TypeSessions: ClassVerb, TypeRevoke: ClassVerb,
		TypeAllocMap: ClassVerb,
		0:            ClassUnknown, 0x7f: ClassUnknown, TypeAlloc | ReplyBit: ClassUnknown,
	}
	for typ, c := range want {
		if got := typ.Class(); got != c {
			t.Errorf("%s: class %d, want %d", typ, got, c)
		}
	}
}

func TestAuthProofs(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	h := HelloReply{Version: 1, Features: FeatureAuth, SessionID: 7, UUID: [16]byte{1}, Nonce: [NonceSize]byte{2}}
	tr := TranscriptOf(&h, [NonceSize]byte{3})
	cp, bp := ClientProof(key, &tr), BrickProof(key, &tr)
	if ProofEqual(cp, bp) {
		t.Fatal("client and brick proofs are equal: a proof could be reflected")
	}
	if !ProofEqual(cp, ClientProof(key, &tr)) {
		t.Fatal("proof is not deterministic")
	}
	mutations := map[string]func(tr *Transcript){
		"session":      func(tr *Transcript) { tr.SessionID++ },
		"brick nonce":  func(tr *Transcript) { tr.BrickNonce[31] ^= 1 },
		"client nonce": func(tr *Transcript) { tr.ClientNonce[0] ^= 1 },
		"features":     func(tr *Transcript) { tr.Features = 0 },
		"uuid":         func(tr *Transcript) { tr.UUID[15] = 1 },
		"version":      func(tr *Transcript) { tr.Version = 2 },
	}
	for name, mut := range mutations {
		t2 := tr
		mut(&t2)
		if ProofEqual(cp, ClientProof(key, &t2)) {
			t.Errorf("%s: proof does not cover it", name)
		}
	}
	if ProofEqual(cp, ClientProof([]byte("0123456789abcdef0123456789abcdeF"), &tr)) {
		t.Error("proof does not depend on the key")
	}
}

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "correct horse battery staple\n", 0o600)
	key, err := ReadKeyFile(good)
	if err != nil || string(key) != "correct horse battery staple" {
		t.Fatalf("key %q err %v", key, err)
	}
	cases := map[string]string{
		"group readable": write("group", "correct horse battery staple", 0o640),
		"world readable": write("world", "correct horse battery staple", 0o604),
		"short":          write("short", "hunter2\n", 0o600),
		"empty":          write("empty", "", 0o600),
		"missing":        filepath.Join(dir, "nope"),
		"directory":      dir,
	}
	for name, p := range cases {
		if _, err := ReadKeyFile(p); !errors.Is(err, ErrKey) {
			t.Errorf("%s: err=%v, want ErrKey", name, err)
		}
	}
	if _, err := ReadKeyFile(cases["group readable"]); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key: %v does not say what to do", err)
	}
}

// TestStatusReplyPosture: the device list is bounded and its length exact.
func TestStatusReplyPosture(t *testing.T) {
	full := &StatusReply{Devices: make([]DDIODevice, MaxStatusDevices+5)}
	b := make([]byte, full.size())
	full.marshal(b)
	var m StatusReply
	if err := m.unmarshal(b); err != nil || len(m.Devices) != MaxStatusDevices {
		t.Fatalf("%d devices, %v; want the first %d", len(m.Devices), err, MaxStatusDevices)
	}
	one := &StatusReply{Devices: []DDIODevice{{Name: "mlx5_0"}}}
	b = make([]byte, one.size())
	one.marshal(b)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"old 64-byte reply", b[:64], ErrShort},
		{"device cut", b[:len(b)-1], ErrLength},
		{"extra byte", append(append([]byte(nil), b...), 0), ErrLength},
		{"count too large", func() []byte {
			c := append([]byte(nil), b...)
			be.PutUint16(c[statusReplyBase+6:], MaxStatusDevices+1)
			return c
		}(), ErrTooLarge},
	} {
		if err := m.unmarshal(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestAdminRejects: the admin decoders check every length and flag.
func TestAdminRejects(t *testing.T) {
	rec := &SessionsReply{Sessions: []SessionInfo{{ID: 1, Maps: 1, Held: []HeldMap{{ID: 0x200000}}}}}
	good := make([]byte, rec.size())
	rec.marshal(good)
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	fr := make([]byte, freeRangeReplySize)
	(&FreeRangeReply{Freed: 1}).marshal(fr)
	cases := []struct {
		name string
		m    Message
		b    []byte
		want error
	}{
		{"free-range request short", &FreeRangeRequest{}, make([]byte, freeRangeReqSize-1), ErrLength},
		{"free-range request long", &FreeRangeRequest{}, make([]byte, freeRangeReqSize+1), ErrLength},
		{"free-range reply short", &FreeRangeReply{}, fr[:freeRangeReplySize-8], ErrLength},
		{"free-range reply flags", &FreeRangeReply{}, func() []byte { b := append([]byte(nil), fr...); b[11] = 2; return b }(), ErrFlags},
		{"sessions request short", &SessionsRequest{}, make([]byte, sessionsReqSize-4), ErrLength},
		{"sessions reply no head", &SessionsReply{}, good[:sessionsReplyHead-1], ErrShort},
		{"sessions reply count too large", &SessionsReply{}, edit(func(b []byte) { be.PutUint32(b, MaxSessionsPerReply+1) }), ErrTooLarge},
		{"sessions reply count over the bytes", &SessionsReply{}, edit(func(b []byte) { be.PutUint32(b, 2) }), ErrLength},
		{"sessions reply held over the bytes", &SessionsReply{}, edit(func(b []byte) { be.PutUint16(b[sessionsReplyHead+20:], 2) }), ErrLength},
		{"sessions reply trailing bytes", &SessionsReply{}, append(append([]byte(nil), good...), 0), ErrLength},
		{"sessions reply truncated map", &SessionsReply{}, good[:len(good)-1], ErrLength},
		{"sessions reply flags", &SessionsReply{}, edit(func(b []byte) { b[7] = 4 }), ErrFlags},
		{"free-range reply reserved", &FreeRangeReply{}, func() []byte { b := append([]byte(nil), fr...); b[15] = 1; return b }(), ErrReserved},
		{"sessions record reserved", &SessionsReply{}, edit(func(b []byte) { b[sessionsReplyHead+23] = 1 }), ErrReserved},
		{"sessions peer junk after its NUL", &SessionsReply{}, edit(func(b []byte) { b[sessionsReplyHead+sessionHeadSize-1] = 'x' }), ErrReserved},
		{"sessions held map pad", &SessionsReply{}, edit(func(b []byte) { b[len(b)-1] = 1 }), ErrReserved},
		{"revoke request long", &RevokeRequest{}, make([]byte, revokeReqSize+1), ErrLength},
		{"revoke reply short", &RevokeReply{}, make([]byte, revokeReplySize-1), ErrLength},
	}
	for _, tc := range cases {
		if err := tc.m.unmarshal(tc.b); !errors.Is(err, tc.want) || !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: err=%v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestSessionsReplyRoom: a reply the brick fills record by record within
// Room always encodes, and Room ends before MaxSessionsPerReply records.
func TestSessionsReplyRoom(t *testing.T) {
	buf := make([]byte, MaxMessage)
	for _, held := range []int{0, 1, 7, 1000} {
		r := &SessionsReply{}
		for r.Room() >= 0 {
			n := min(held, r.Room())
			r.Sessions = append(r.Sessions, SessionInfo{ID: uint64(len(r.Sessions)), Maps: uint32(held), Held: make([]HeldMap, n)})
		}
		if _, err := Encode(buf, r.Type(), StatusOK, 1, r); err != nil {
			t.Fatalf("%d maps each, %d records: %v", held, len(r.Sessions), err)
		}
		if len(r.Sessions) > MaxSessionsPerReply {
			t.Fatalf("%d records fit, over MaxSessionsPerReply %d", len(r.Sessions), MaxSessionsPerReply)
		}
		if held == 0 && len(r.Sessions) != MaxSessionsPerReply {
			t.Fatalf("%d records without maps fit, want MaxSessionsPerReply %d", len(r.Sessions), MaxSessionsPerReply)
		}
	}
	big := &SessionsReply{Sessions: []SessionInfo{{ID: 1, Held: make([]HeldMap, (&SessionsReply{}).Room()+1)}}}
	if _, err := Encode(buf, big.Type(), StatusOK, 1, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a record over the payload encoded: %v", err)
	}
}

func TestRevokeFlags(t *testing.T) {
	for _, tc := range []struct {
		session uint64
		flags   uint32
		ok      bool
	}{
		{1, 0, true}, {1, RevokeBlock, true}, {1, RevokeEnd, true},
		{1, RevokeEnd | RevokeBlock, false}, {0, RevokeBlock, true},
		{0, 0, false}, {0, RevokeEnd, false}, {1, 1 << 7, false},
	} {
		if got := ValidRevokeFlags(tc.session, tc.flags); got != tc.ok {
			t.Errorf("ValidRevokeFlags(%d, %#x) = %v, want %v", tc.session, tc.flags, got, tc.ok)
		}
	}
}

// TestMaxRequest: every request type fits the brick's receive buffers.
func TestMaxRequest(t *testing.T) {
	n := 0
	for typ := Type(0); typ < ReplyBit; typ++ {
		m := newMessage(typ)
		if m == nil {
			continue
		}
		n++
		if size := HeaderSize + m.size(); size > MaxRequest {
			t.Errorf("%v requests are %d bytes, more than MaxRequest (%d)", typ, size, MaxRequest)
		}
	}
	if n == 0 {
		t.Fatal("no request types found")
	}
}
