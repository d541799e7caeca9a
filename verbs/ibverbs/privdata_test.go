package ibverbs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

func TestPrivateDataRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		max   int
		field int // what the CM delivers: the fixed field size (IB/RoCE) or exact (iWARP, 0)
	}{
		{"empty connect", nil, MaxConnectData, cmConnectField},
		{"hello request", bytes.Repeat([]byte{1}, 16), MaxConnectData, cmConnectField},
		{"max connect", bytes.Repeat([]byte{2}, MaxConnectData), MaxConnectData, cmConnectField},
		{"hello reply", bytes.Repeat([]byte{3}, 56), MaxAcceptData, cmAcceptField},
		{"max accept", bytes.Repeat([]byte{4}, MaxAcceptData), MaxAcceptData, cmAcceptField},
		{"max reject", bytes.Repeat([]byte{5}, MaxRejectData), MaxRejectData, cmRejectField},
		{"trailing zeros survive padding", []byte{9, 0, 0}, MaxConnectData, cmConnectField},
		{"exact length (iWARP)", []byte("hello"), MaxConnectData, 0},
		{"empty (iWARP)", nil, MaxAcceptData, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := padded
			if tc.field == 0 {
				f = exact
			}
			wire, err := encodePrivateData("test", tc.data, tc.max, f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.field > 0 {
				if len(wire) > tc.field {
					t.Fatalf("%d bytes on the wire exceed the %d-byte CM field", len(wire), tc.field)
				}
				wire = append(wire, make([]byte, tc.field-len(wire))...)
			}
			if f == exact && !bytes.Equal(wire, tc.data) {
				t.Fatalf("iWARP wire %x, want the data itself %x (what siw and the software RNIC send)", wire, tc.data)
			}
			got, err := decodePrivateData(wire, f)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("got %x, want %x", got, tc.data)
			}
		})
	}
}

func TestPrivateDataLimits(t *testing.T) {
	for _, tc := range []struct {
		what string
		max  int
	}{{"connect", MaxConnectData}, {"accept", MaxAcceptData}, {"reject", MaxRejectData}} {
		for _, f := range []framing{padded, exact} {
			_, err := encodePrivateData(tc.what, make([]byte, tc.max+1), tc.max, f)
			if !errors.Is(err, verbs.ErrInvalid) {
				t.Errorf("%s framing %d: %d bytes: err %v, want ErrInvalid", tc.what, f, tc.max+1, err)
			}
		}
	}
	if _, err := decodePrivateData([]byte{5, 1, 2}, padded); !errors.Is(err, verbs.ErrInvalid) {
		t.Errorf("truncated private data: err %v, want ErrInvalid", err)
	}
}

func FuzzDecodePrivateData(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 'a', 'b', 'c', 0, 0})
	f.Add([]byte{200})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodePrivateData(b, padded)
		if err != nil {
			return
		}
		if len(d) > len(b) || (len(b) > 0 && len(d) != int(b[0])) {
			t.Fatalf("decoded %d bytes from %x", len(d), b)
		}
		wire, err := encodePrivateData("fuzz", d, 255, padded)
		if err != nil {
			t.Fatal(err)
		}
		if d2, err := decodePrivateData(wire, padded); err != nil || !bytes.Equal(d, d2) {
			t.Fatalf("re-encoding %x: %x, %v", d, d2, err)
		}
	})
}
