package pmem

import (
	"errors"
	"runtime"
	"testing"
)

// The flush cannot be shown durable here; these tests show it runs on
// every kind of range without faulting and picks the right instruction.

func TestCPUFlushRanges(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		if err := CPUFlush(make([]byte, 64)); !errors.Is(err, ErrNotSupported) {
			t.Fatalf("CPUFlush on %s = %v, want ErrNotSupported", runtime.GOARCH, err)
		}
		t.Skip("user-space flush is amd64 only")
	}
	if CPUFlushInstruction() == "" {
		t.Fatal("no flush instruction chosen on amd64 (every amd64 CPU has CLFLUSH)")
	}
	t.Logf("flush instruction: %s", CPUFlushInstruction())
	buf := make([]byte, 3*4096+64)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, r := range [][2]int{{0, 0}, {0, 1}, {63, 2}, {1, 64}, {0, 64}, {5, 4096}, {4095, 4097}, {0, len(buf)}, {len(buf) - 1, 1}} {
		if err := CPUFlush(buf[r[0] : r[0]+r[1]]); err != nil {
			t.Fatalf("CPUFlush [%d, +%d): %v", r[0], r[1], err)
		}
	}
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatalf("byte %d changed by a flush", i)
		}
	}
	Fence()
	// An mmapped region (the real case).
	r, err := NewAnonymous(2 * FrameSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f := r.Frame(0)
	f[FrameSize-1] = 7
	if err := CPUFlush(f); err != nil {
		t.Fatal(err)
	}
	if f[FrameSize-1] != 7 {
		t.Fatal("flush changed the data")
	}
}
