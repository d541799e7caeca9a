package protocol

import (
	"hash/crc32"
	"reflect"
	"testing"
)

// crcOf is hash/crc32's CRC-32C, independent of the internal/crc32c that
// the code under test uses.
func crcOf(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// FuzzDecode: any bytes either decode to a message that re-encodes to the
// same frame, or fail with a protocol error; never a panic.
func FuzzDecode(f *testing.F) {
	buf := make([]byte, MaxMessage)
	for _, tc := range sampleMessages() {
		n, _ := Encode(buf, tc.t, StatusOK, 3, tc.m)
		f.Add(append([]byte(nil), buf[:n]...))
	}
	f.Add([]byte{0xB7, 0x1C, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, m, err := Decode(b)
		if err != nil {
			return
		}
		out := make([]byte, MaxMessage)
		n, err := Encode(out, h.Type, h.Status, h.ReqID, m)
		if err != nil {
			t.Fatalf("decoded %v but cannot re-encode: %v", h, err)
		}
		// State bytes and pads may differ only where the decoder ignores them.
		if _, _, err := Decode(out[:n]); err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
	})
}

// FuzzHello: hello decoders bound every length.
func FuzzHello(f *testing.F) {
	f.Add((&HelloRequest{MinVersion: 1, MaxVersion: 1}).Marshal())
	f.Add((&HelloReply{Version: 1}).Marshal())
	f.Add((&HelloReply{Version: 1, Features: FeatureAuth, TimeoutMS: 1000, Nonce: [NonceSize]byte{1}}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		var rq HelloRequest
		if rq.Unmarshal(b) == nil {
			var again HelloRequest
			if err := again.Unmarshal(rq.Marshal()); err != nil || again != rq {
				t.Fatalf("request round trip: %v", err)
			}
		}
		var rp HelloReply
		if rp.Unmarshal(b) == nil {
			var again HelloReply
			if err := again.Unmarshal(rp.Marshal()); err != nil || again != rp {
				t.Fatalf("reply round trip: %v", err)
			}
		}
	})
}

// adminSeeds are the admin messages' payloads, the seeds of their fuzz
// targets.
func adminSeeds(f *testing.F, types ...Type) {
	for _, tc := range sampleMessages() {
		for _, t := range types {
			if tc.t == t {
				b := make([]byte, tc.m.size())
				tc.m.marshal(b)
				f.Add(b)
			}
		}
	}
}

// roundTrip checks that a payload one decoder took re-encodes to bytes the
// same decoder takes to the same message.
func roundTrip(t *testing.T, m Message, fresh func() Message) {
	b := make([]byte, m.size())
	m.marshal(b)
	again := fresh()
	if err := again.unmarshal(b); err != nil {
		t.Fatalf("%s: re-encoded payload does not decode: %v", m.Type(), err)
	}
	if !reflect.DeepEqual(again, m) {
		t.Fatalf("%s: round trip: got %#v, want %#v", m.Type(), again, m)
	}
}

// FuzzFreeRange: the free-range decoders take exact lengths and round-trip.
func FuzzFreeRange(f *testing.F) {
	adminSeeds(f, TypeFreeRange, TypeFreeRange|ReplyBit)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rq FreeRangeRequest
		if rq.unmarshal(b) == nil {
			roundTrip(t, &rq, func() Message { return &FreeRangeRequest{} })
		}
		var rp FreeRangeReply
		if rp.unmarshal(b) == nil {
			roundTrip(t, &rp, func() Message { return &FreeRangeReply{} })
		}
	})
}

// FuzzSessions: the session-list decoders bound every count and length.
func FuzzSessions(f *testing.F) {
	adminSeeds(f, TypeSessions, TypeSessions|ReplyBit)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rq SessionsRequest
		if rq.unmarshal(b) == nil {
			roundTrip(t, &rq, func() Message { return &SessionsRequest{} })
		}
		var rp SessionsReply
		if rp.unmarshal(b) == nil {
			if rp.size() != len(b) {
				t.Fatalf("decoded %d bytes into a %d-byte reply", len(b), rp.size())
			}
			// A peer string with a NUL in it is cut there: compare the
			// re-encoding, which is canonical.
			roundTrip(t, &rp, func() Message { return &SessionsReply{} })
		}
	})
}

// FuzzRevoke: the revoke decoders take exact lengths and round-trip.
func FuzzRevoke(f *testing.F) {
	adminSeeds(f, TypeRevoke, TypeRevoke|ReplyBit)
	f.Fuzz(func(t *testing.T, b []byte) {
		var rq RevokeRequest
		if rq.unmarshal(b) == nil {
			roundTrip(t, &rq, func() Message { return &RevokeRequest{} })
		}
		var rp RevokeReply
		if rp.unmarshal(b) == nil {
			roundTrip(t, &rp, func() Message { return &RevokeReply{} })
		}
	})
}
