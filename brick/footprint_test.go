package brick_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/brick-storage/brick/pmem"
)

// footprint is what the process holds: goroutines, open fds, the memory
// the Go runtime holds (heap, stacks and its own, less what it returned
// to the OS), and resident memory apart from the pmem region (whose frames
// a load fills by design, and which stay resident, zeroed, after Free).
// Resident memory also covers what Go does not see: the sessions' message
// buffers and staging memory, mapped outside the heap for the RNIC.
type footprint struct {
	goroutines, fds int
	goKiB, rssKiB   int64
}

func (f footprint) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, %d MiB Go memory, %d MiB resident", f.goroutines, f.fds, f.goKiB>>10, f.rssKiB>>10)
}

// measure takes the process's footprint after a GC that returns freed
// memory to the OS. Linux only (it reads /proc).
func measure(t testing.TB, region pmem.Region) footprint {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	rss, err := rssOutside(region)
	if err != nil {
		t.Fatal(err)
	}
	return footprint{goroutines: runtime.NumGoroutine(), fds: len(fds), goKiB: goMemory() >> 10, rssKiB: rss}
}

// goMemory is the memory the Go runtime has mapped and not returned.
func goMemory() int64 {
	ms := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(ms)
	return int64(ms[0].Value.Uint64() - ms[1].Value.Uint64())
}

// rssOutside sums the Rss of every mapping in /proc/self/smaps that does
// not overlap the region's frames.
func rssOutside(region pmem.Region) (int64, error) {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(region.Frame(0))))
	hi := uintptr(unsafe.Pointer(unsafe.SliceData(region.Frame(region.Frames()-1)))) + pmem.FrameSize
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	skip := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if start, end, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 {
			s, err1 := strconv.ParseUint(start, 16, 64)
			e, err2 := strconv.ParseUint(end, 16, 64)
			if err1 == nil && err2 == nil { // a mapping's header line
				skip = uintptr(s) < hi && uintptr(e) > lo
				continue
			}
		}
		if fields[0] == "Rss:" && !skip && len(fields) >= 2 {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/smaps: %q: %w", sc.Text(), err)
			}
			total += kib
		}
	}
	return total, sc.Err()
}

// settled waits (boundedly) until goroutines and fds are back to before's
// (background goroutines take a moment to see that they are done), then
// fails if either is above it, or memory grew more than slack (negative:
// not checked). Resident memory is not checked under the race detector,
// whose own memory grows with the operations it has watched (by hundreds
// of MiB over TestLoad's rounds) and is not told apart from the process's.
func settled(t *testing.T, region pmem.Region, before footprint, slackKiB int64) footprint {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := measure(t, region)
		if after.goroutines <= before.goroutines && after.fds <= before.fds || time.Now().After(deadline) {
			grew := func(a, b int64) bool { return slackKiB >= 0 && a > b+slackKiB }
			if after.goroutines > before.goroutines || after.fds > before.fds ||
				grew(after.goKiB, before.goKiB) || !raceDetector && grew(after.rssKiB, before.rssKiB) {
				t.Errorf("footprint before: %v; after: %v (memory slack %d MiB; resident memory checked: %v)", before, after, slackKiB>>10, !raceDetector)
			}
			return after
		}
		time.Sleep(20 * time.Millisecond)
	}
}
