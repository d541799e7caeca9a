package ibverbs

import (
	"errors"
	"os"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

var goData [3 * 4096]byte

func TestCheckRegistrable(t *testing.T) {
	page := os.Getpagesize()
	mm, err := verbs.AllocMemory(4 * page)
	if err != nil {
		t.Fatal(err)
	}
	defer verbs.FreeMemory(mm)
	// A large heap slice; find a page-aligned window inside it, so that
	// only the Go-heap test can refuse it.
	heap := make([]byte, 8*page)
	off := 0
	for uintptrOf(&heap[off])%uintptr(page) != 0 {
		off++
	}
	dataOff := 0
	for uintptrOf(&goData[dataOff])%uintptr(page) != 0 {
		dataOff++
	}
	tests := []struct {
		name string
		buf  []byte
		ok   bool
	}{
		{"AllocMemory", mm, true},
		{"AllocMemory page", mm[page : 2*page], true},
		{"AllocMemory odd length", mm[:page+1], true},
		{"unaligned", mm[1:], false},
		{"empty", mm[:0], false},
		{"Go heap, page-aligned", heap[off : off+4*page], false},
		{"Go data, page-aligned", goData[dataOff : dataOff+page], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRegistrable(tc.buf)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, verbs.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
}
