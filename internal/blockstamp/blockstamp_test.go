package blockstamp

import (
	"bytes"
	"testing"
)

func TestStamp(t *testing.T) {
	tests := []struct {
		name    string
		id, gen uint64
		other   []byte // what the stamp must differ from
	}{
		{"another block", 0x200000, 1, Make(0x400000, 1)},
		{"an older generation", 0x200000, 7, Make(0x200000, 6)},
		{"zeros", 0, 0, make([]byte, Size)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Make(tt.id, tt.gen)
			if len(s) != Size || Gen(s) != tt.gen {
				t.Fatalf("len %d, Gen %d; want %d, %d", len(s), Gen(s), Size, tt.gen)
			}
			if bytes.Equal(s, tt.other) {
				t.Fatalf("stamp equals %x…", tt.other[:16])
			}
			swapped := bytes.Clone(s)
			copy(swapped[16:32], s[32:48])
			copy(swapped[32:48], s[16:32])
			if bytes.Equal(swapped, s) {
				t.Fatal("slots swapped within the stamp still match")
			}
		})
	}
}
