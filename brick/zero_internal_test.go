package brick

import (
	"fmt"
	"testing"
)

func TestIsZero(t *testing.T) {
	const n = 2<<20 + 100 // a frame and a tail shorter than a chunk
	for _, tt := range []struct {
		set  int // index of the one non-zero byte, or -1
		want bool
	}{
		{-1, true}, {0, false}, {4095, false}, {4096, false}, {n / 2, false}, {n - 100, false}, {n - 1, false},
	} {
		b := make([]byte, n)
		if tt.set >= 0 {
			b[tt.set] = 1
		}
		if got := isZero(b); got != tt.want {
			t.Errorf("byte %d set: isZero %v, want %v", tt.set, got, tt.want)
		}
	}
	if !isZero(nil) {
		t.Error("isZero(nil) = false")
	}
}

// BenchmarkIsZero: the scan the zeroer makes of every frame it zeroes.
func BenchmarkIsZero(b *testing.B) {
	for _, size := range []int{4 << 10, 2 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				if !isZero(buf) {
					b.Fatal("not zero")
				}
			}
		})
	}
}
