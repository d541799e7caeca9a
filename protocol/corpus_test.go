package protocol

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The seed corpus under testdata/fuzz is committed: go test runs every
// file as a regression case, and the short fuzz runs in make fuzz start
// from it. Regenerate it after a layout change with
//
//	BRICK_WRITE_CORPUS=1 go test -run TestWriteCorpus ./protocol/
func TestWriteCorpus(t *testing.T) {
	if os.Getenv("BRICK_WRITE_CORPUS") == "" {
		t.Skip("set BRICK_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	frames := map[string][]byte{}
	buf := make([]byte, MaxMessage)
	for _, tc := range sampleMessages() {
		n, err := Encode(buf, tc.t, StatusOK, 3, tc.m)
		if err != nil {
			t.Fatal(err)
		}
		name := "valid-" + fileName(tc.t.String())
		if tc.t == TypeFree && tc.m.(*FreeRequest).Flags != 0 {
			name += "-flags"
		}
		if tc.t == TypeFree && tc.m.(*FreeRequest).Flags&FreeKeyed != 0 {
			name += "-keyed"
		}
		if tc.t == TypeUnmap && tc.m.(*UnmapRequest).Keyed {
			name += "-keyed"
		}
		frames[name] = append([]byte(nil), buf[:n]...)
	}
	n, _ := Encode(buf, TypeMap|ReplyBit, StatusBusy, 9, nil)
	frames["error-reply"] = append([]byte(nil), buf[:n]...)
	good := frames["valid-map"]
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	fix := func(b []byte) { // recompute the CRC after a mutation
		be.PutUint32(b[offCRC:], 0)
		be.PutUint32(b[offCRC:], crcOf(b))
	}
	frames["bad-short"] = good[:HeaderSize-1]
	frames["bad-crc"] = mut(func(b []byte) { b[len(b)-1] ^= 0x40 })
	frames["bad-unknown-type"] = mut(func(b []byte) { b[offType] = 0x3f; fix(b) })
	frames["bad-version"] = mut(func(b []byte) { b[offVersion] = MaxVersion + 1; fix(b) })
	frames["bad-oversize-length"] = mut(func(b []byte) { be.PutUint32(b[offLength:], 1<<31); fix(b) })
	frames["bad-truncated-payload"] = good[:len(good)-3]
	frames["bad-request-status"] = mut(func(b []byte) { be.PutUint16(b[offStatus:], uint16(StatusPermission)); fix(b) })
	frames["bad-free-zero-flags"] = func() []byte { // a 12-byte Free says a flag
		n, _ := Encode(buf, TypeFree, StatusOK, 1, &FreeRequest{ID: 0x200000, Flags: FreeUnmap})
		b := append([]byte(nil), buf[:n]...)
		be.PutUint32(b[HeaderSize+8:], 0)
		fix(b)
		return b
	}()
	frames["bad-list-count"] = func() []byte {
		n, _ := Encode(buf, TypeList|ReplyBit, StatusOK, 1, &ListReply{Extents: []Extent{{First: 0, Blocks: 1, State: StateResident}}})
		b := append([]byte(nil), buf[:n]...)
		be.PutUint32(b[HeaderSize:], 0xffffffff)
		fix(b)
		return b
	}()
	writeCorpus(t, "FuzzDecode", frames)

	req := HelloRequest{MinVersion: 1, MaxVersion: 1, Features: FeatureGPSPM | FeatureAuth, RecvDepth: 16}
	rep := HelloReply{Version: 1, RecvDepth: 16, MaxMessage: MaxMessage, Features: FeatureGPSPM | FeatureAuth,
		UUID: [16]byte{0xb7, 0x1c}, FrameSize: 2 << 20, Frames: 511, SessionID: 1, TimeoutMS: 30000, Nonce: [NonceSize]byte{1, 2, 3, 31: 4}}
	rej := HelloReply{Version: 1, Status: StatusPermission}
	hellos := map[string][]byte{
		"request":           req.Marshal(),
		"request-ib-padded": append(req.Marshal(), make([]byte, 56-HelloRequestSize)...),
		"request-range":     (&HelloRequest{MinVersion: 1, MaxVersion: 200, Features: ^uint64(0)}).Marshal(),
		"reply":             rep.Marshal(),
		"reply-reject":      rej.Marshal(),
		"reply-v0-56-bytes": rep.Marshal()[:56],
		"bad-minmax":        (&HelloRequest{MinVersion: 2, MaxVersion: 1}).Marshal(),
		"bad-magic":         []byte("GET / HTTP/1.1\r\n"),
	}
	writeCorpus(t, "FuzzHello", hellos)

	for target, types := range map[string][]Type{
		"FuzzFreeRange": {TypeFreeRange, TypeFreeRange | ReplyBit},
		"FuzzSessions":  {TypeSessions, TypeSessions | ReplyBit},
		"FuzzRevoke":    {TypeRevoke, TypeRevoke | ReplyBit},
	} {
		seeds := map[string][]byte{}
		for i, tc := range sampleMessages() {
			if slices.Contains(types, tc.t) {
				b := make([]byte, tc.m.size())
				tc.m.marshal(b)
				seeds[fmt.Sprintf("valid-%s-%d", fileName(tc.t.String()), i)] = b
			}
		}
		writeCorpus(t, target, seeds)
	}
	held := &SessionsReply{Sessions: []SessionInfo{{ID: 1, Maps: 1, Held: []HeldMap{{ID: 0x200000, Flags: HeldRW}}}}}
	b := make([]byte, held.size())
	held.marshal(b)
	be.PutUint16(b[sessionsReplyHead+20:], 0xffff)
	writeCorpus(t, "FuzzSessions", map[string][]byte{"bad-held-count": b})
}

func fileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ' ' {
			b[i] = '-'
		}
	}
	return string(b)
}

func writeCorpus(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
