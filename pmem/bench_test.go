package pmem

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Run: go test -tags pebblegozstd -run '^$' -bench '2MiB' ./pmem/
// BRICK_BENCH_DIR chooses where the msync image lives (default: the
// test's temp directory; tmpfs makes msync nearly free and the
// comparison meaningless).

func benchDir(b *testing.B) string {
	if d := os.Getenv("BRICK_BENCH_DIR"); d != "" {
		return d
	}
	return b.TempDir()
}

// dirty stores to every cache line of f so each flush has work to do.
func dirty(f []byte, v byte) {
	for i := 0; i < len(f); i += CacheLineSize {
		f[i] = v
	}
}

// BenchmarkFlushCPU2MiB: CLWB (or the best flush the CPU has) + SFENCE of
// a freshly dirtied 2 MiB frame.
func BenchmarkFlushCPU2MiB(b *testing.B) {
	if !cpuFlushSupported() {
		b.Skip("no user-space flush on this CPU")
	}
	r, err := NewAnonymous(2 * FrameSize)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	benchFlush(b, r.Frame(0), CPUFlush)
	b.Logf("instruction %s", CPUFlushInstruction())
}

// BenchmarkMsync2MiB: msync(MS_SYNC) of a freshly dirtied 2 MiB frame of a
// plain file image.
func BenchmarkMsync2MiB(b *testing.B) {
	r := benchImage(b, "bench.img")
	benchFlush(b, r.Frame(0), r.Flush)
}

// benchFlush times flush of a freshly dirtied frame f.
func benchFlush(b *testing.B, f []byte, flush func([]byte) error) {
	b.SetBytes(FrameSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		dirty(f, byte(i))
		b.StartTimer()
		if err := flush(f); err != nil {
			b.Fatal(err)
		}
	}
}

// benchImage is a plain file image of two frames, removed when b ends.
func benchImage(b *testing.B, name string) Region {
	r, err := OpenFile(filepath.Join(benchDir(b), name), FileOptions{Size: 2 * FrameSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		r.Close()
		os.Remove(r.Path())
	})
	return r
}

// BenchmarkFlushRatio2MiB measures both, interleaved in the same run, and
// reports msync time divided by CPU-flush time ("msync/cpu").
func BenchmarkFlushRatio2MiB(b *testing.B) {
	if !cpuFlushSupported() {
		b.Skip("no user-space flush on this CPU")
	}
	anon, err := NewAnonymous(2 * FrameSize)
	if err != nil {
		b.Fatal(err)
	}
	defer anon.Close()
	file := benchImage(b, "ratio.img")
	fa, ff := anon.Frame(0), file.Frame(0)
	var cpu, ms time.Duration
	for i := 0; b.Loop(); i++ {
		dirty(fa, byte(i))
		dirty(ff, byte(i))
		t0 := time.Now()
		if err := CPUFlush(fa); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := file.Flush(ff); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		cpu += t1.Sub(t0)
		ms += t2.Sub(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/2MiB")
	b.ReportMetric(float64(ms.Nanoseconds())/n, "msync-ns/2MiB")
	b.ReportMetric(float64(ms)/float64(cpu), "msync/cpu")
}
