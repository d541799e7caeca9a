package imghdr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

var (
	pm   = Kind{Magic: [8]byte{'B', 'R', 'I', 'C', 'K', 'P', 'M', 0}, Name: "pmem superblock"}
	tr   = Kind{Magic: [8]byte{'B', 'R', 'I', 'C', 'K', 'T', 'R', 0}, Name: "tier header"}
	uuid = [16]byte{0xb7, 0x1c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
)

// TestGolden: the bytes are those pmem's superblock and tier's header
// wrote before they shared this package (taken from their encoders), so
// images made by earlier builds still open.
func TestGolden(t *testing.T) {
	for _, c := range []struct {
		name   string
		kind   Kind
		h      Header
		golden string
	}{
		{"pmem v2", pm, Header{Version: 2, Unit: 2 << 20, Count: 31, UUID: uuid},
			"425249434b504d0002000000000020001f00000000000000b71c0102030405060708090a0b0c0d0ea958a120"},
		{"pmem v1", pm, Header{Version: 1, Unit: 2 << 20, Count: 31, UUID: uuid},
			"425249434b504d0001000000000020001f00000000000000b71c0102030405060708090a0b0c0d0ef4294a66"},
		{"tier", tr, Header{Version: 1, Unit: 2 << 20, Count: 64, UUID: uuid},
			"425249434b54520001000000000020004000000000000000b71c0102030405060708090a0b0c0d0e6b1b09e2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := hex.DecodeString(c.golden)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, Size)
			c.kind.Encode(b, c.h)
			if !bytes.Equal(b, want) {
				t.Fatalf("Encode = %x, want %x", b, want)
			}
			got, err := c.kind.Decode(want)
			if err != nil || got != c.h {
				t.Fatalf("Decode = %+v, %v; want %+v", got, err, c.h)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := make([]byte, Size)
	pm.Encode(good, Header{Version: 2, Unit: 2 << 20, Count: 3, UUID: uuid})
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for _, c := range []struct {
		name string
		kind Kind
		b    []byte
		want error
	}{
		{"short", pm, good[:Size-1], ErrBadMagic},
		{"other kind", tr, good, ErrBadMagic},
		{"magic", pm, flip(0), ErrBadMagic},
		{"count", pm, flip(16), ErrBadChecksum},
		{"checksum", pm, flip(40), ErrBadChecksum},
		{"zero", pm, make([]byte, Size), ErrBadMagic},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.kind.Decode(c.b); !errors.Is(err, c.want) {
				t.Fatalf("Decode: %v, want %v", err, c.want)
			}
		})
	}
	if IsZero(good) || !IsZero(make([]byte, Size)) {
		t.Error("IsZero is wrong")
	}
}

func FuzzDecode(f *testing.F) {
	good := make([]byte, Size)
	pm.Encode(good, Header{Version: 2, Unit: 2 << 20, Count: 3, UUID: uuid})
	f.Add(good)
	f.Add(make([]byte, Size))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := pm.Decode(b)
		if err != nil {
			return
		}
		again := make([]byte, Size)
		pm.Encode(again, h)
		if !bytes.Equal(again, b[:Size]) {
			t.Fatalf("header %x re-encodes as %x", b[:Size], again)
		}
	})
}
