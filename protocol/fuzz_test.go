package protocol

import (
	"hash/crc32"
	"testing"
)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

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
