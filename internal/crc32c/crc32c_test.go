package crc32c

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
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
	dst := make([]byte, 2<<20+64)
	for _, s := range spans {
		p := buf[s.off : s.off+s.n]
		for _, crc := range []uint32{0, 0xdeadbeef, 0xffffffff} {
			want := crc32.Update(crc, castagnoli, p)
			if got := Update(crc, p); got != want {
				t.Fatalf("Update(%#x, %d bytes at offset %d) = %#08x, want %#08x", crc, s.n, s.off, got, want)
			}
			checkCopyUpdate(t, crc, dst[(s.off*7)%64:], p, want)
		}
	}
}

// checkCopyUpdate checks that CopyUpdate(crc, dst, p) returns want and
// leaves a copy of p in dst, touching nothing after it.
func checkCopyUpdate(t *testing.T, crc uint32, dst, p []byte, want uint32) {
	t.Helper()
	clear(dst)
	if len(dst) > len(p) {
		dst[len(p)] = 0xa5
	}
	if got := CopyUpdate(crc, dst, p); got != want {
		t.Fatalf("CopyUpdate(%#x, %d bytes) = %#08x, want %#08x", crc, len(p), got, want)
	}
	if !bytes.Equal(dst[:len(p)], p) {
		t.Fatalf("CopyUpdate of %d bytes: the copy differs", len(p))
	}
	if len(dst) > len(p) && dst[len(p)] != 0xa5 {
		t.Fatalf("CopyUpdate of %d bytes wrote past them", len(p))
	}
}

// TestCopyUpdateWhileSourceChanges: while another goroutine keeps storing
// into the source, the CRC CopyUpdate returns is that of the copy it made
// (what the software RNIC puts on the wire), at lengths through every
// loop of the assembly. The source is mapped memory, outside the Go heap,
// so that the race detector leaves this intended race alone.
func TestCopyUpdateWhileSourceChanges(t *testing.T) {
	const n = 1 << 20
	src, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(src)
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(src))), n/8)
		for v := uint64(1); !done.Load(); v++ {
			for i := range words {
				atomic.StoreUint64(&words[i], v*0x9e3779b97f4a7c15)
			}
		}
	}()
	defer func() { done.Store(true); wg.Wait() }()
	dst := make([]byte, n)
	for i := range 2000 {
		size := []int{256, 320, 336, 4096, 65472, n}[i%6]
		if got, want := CopyUpdate(0, dst, src[:size]), crc32.Update(0, castagnoli, dst[:size]); got != want {
			t.Fatalf("copy %d of %d bytes: CRC %#08x, but the copy's is %#08x", i, size, got, want)
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
		want := crc32.Update(7, castagnoli, buf[:n])
		if got := Update(7, buf[:n]); got != want {
			t.Errorf("fallback Update of %d bytes = %#08x, want %#08x", n, got, want)
		}
		checkCopyUpdate(t, 7, make([]byte, n+1), buf[:n], want)
	}
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint32(0), []byte("123456789"))
	f.Add(uint32(0xffffffff), randBytes(1500, 5))
	f.Add(uint32(1), randBytes(9000, 6))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		want := crc32.Update(crc, castagnoli, p)
		if got := Update(crc, p); got != want {
			t.Errorf("Update(%#x, %d bytes) = %#08x, want %#08x", crc, len(p), got, want)
		}
		checkCopyUpdate(t, crc, make([]byte, len(p)+1), p, want)
	})
}
