package crc32c

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// randBytes returns n bytes from a fixed seed.
func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestUpdateLengths compares with hash/crc32 at every length up to 4 KiB,
// at odd alignments, and at sizes around MPA's and the benchmarks'.
func TestUpdateLengths(t *testing.T) {
	buf := randBytes(2<<20+64, 1)
	type span struct{ off, n int }
	var spans []span
	for _, off := range []int{0, 1, 3, 7, 15, 33} {
		for n := 0; n <= 4096; n++ {
			spans = append(spans, span{off, n})
		}
	}
	for _, n := range []int{65472, 65488, 65536, 65536 + 255, 2 << 20} {
		for _, off := range []int{0, 1, 13} {
			spans = append(spans, span{off, n})
		}
	}
	for _, s := range spans {
		p := buf[s.off : s.off+s.n]
		for _, crc := range []uint32{0, 0xdeadbeef, 0xffffffff} {
			if got, want := Update(crc, p), crc32.Update(crc, castagnoli, p); got != want {
				t.Fatalf("Update(%#x, %d bytes at offset %d) = %#08x, want %#08x", crc, s.n, s.off, got, want)
			}
		}
	}
}

// TestFold runs the assembly at every length it accepts up to 4 KiB, below
// foldMin too, so that a change of threshold keeps it tested.
func TestFold(t *testing.T) {
	if !useFold {
		t.Skip("no AVX-512 VPCLMULQDQ here")
	}
	buf := randBytes(4096+16, 2)
	for n := 256; n <= 4096; n += 16 {
		for _, off := range []int{0, 5} {
			p := buf[off : off+n]
			if got, want := ^fold(^uint32(0x1234), p), crc32.Update(0x1234, castagnoli, p); got != want {
				t.Fatalf("fold of %d bytes at offset %d = %#08x, want %#08x", n, off, got, want)
			}
		}
	}
}

// TestUpdateChained feeds a buffer in pieces of many sizes, as the receive
// path does with segments.
func TestUpdateChained(t *testing.T) {
	buf := randBytes(1<<20, 3)
	want := crc32.Update(0, castagnoli, buf)
	for _, piece := range []int{1, 15, 16, 255, 1000, 1024, 4097, 65536, 300000} {
		t.Run(fmt.Sprint(piece), func(t *testing.T) {
			var crc uint32
			for p := buf; len(p) > 0; {
				n := min(piece, len(p))
				crc = Update(crc, p[:n])
				p = p[n:]
			}
			if crc != want {
				t.Errorf("in %d-byte pieces: %#08x, want %#08x", piece, crc, want)
			}
		})
	}
}

// TestUpdateFallback forces hash/crc32, as on a CPU without the
// instructions.
func TestUpdateFallback(t *testing.T) {
	saved := useFold
	useFold = false
	t.Cleanup(func() { useFold = saved })
	buf := randBytes(1<<16+7, 4)
	for _, n := range []int{0, 1, 1023, 1024, 4096, len(buf)} {
		if got, want := Update(7, buf[:n]), crc32.Update(7, castagnoli, buf[:n]); got != want {
			t.Errorf("fallback Update of %d bytes = %#08x, want %#08x", n, got, want)
		}
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint32(0), []byte("123456789"))
	f.Add(uint32(0xffffffff), randBytes(1500, 5))
	f.Add(uint32(1), randBytes(9000, 6))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		if got, want := Update(crc, p), crc32.Update(crc, castagnoli, p); got != want {
			t.Errorf("Update(%#x, %d bytes) = %#08x, want %#08x", crc, len(p), got, want)
		}
	})
}
