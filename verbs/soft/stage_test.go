package soft

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/verbs"
)

// TestTargetMemoryChanges: the target's memory changes all the time while
// the peer reads and writes it (its CPU stores into it, as another
// queue pair's Writes would). RDMA leaves the bytes transferred undefined
// then, but every transfer must complete: a CRC taken over memory that
// changed before the kernel copied it would end the connection as
// corrupted (stage.go).
//
// The target region is mapped memory, as a brick's pmem is: outside the
// Go heap, so the race detector leaves alone what is, to RDMA, a device
// and a CPU sharing memory.
func TestTargetMemoryChanges(t *testing.T) {
	cases := []struct {
		op   verbs.Opcode
		size int
	}{
		{verbs.OpRead, 4 << 10}, // corked
		{verbs.OpRead, 2 << 20}, // batched
		{verbs.OpWrite, 4 << 10},
		{verbs.OpWrite, 2 << 20},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%v-%d", tc.op, tc.size), func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			const n = 2 << 20
			mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Munmap(mem) })
			tgt, err := p.s.PD().Register(mem, rw)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tgt.Deregister() })
			local, _ := region(t, p.c.PD(), n, verbs.AccessLocalWrite)

			stop := churn(mem)
			defer stop()
			ops := 64 << 20 / tc.size // 64 MiB: 16384 small, 32 large
			for i := range ops {
				mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: tc.op, Local: verbs.SGEOf(local, 0, tc.size), RKey: tgt.RKey(), Remote: tgt.Addr()})
				if wc := waitN(t, p.c.SendCQ(), 1)[0]; wc.Status != verbs.StatusSuccess {
					t.Fatalf("%v %d of %d: %v (initiator: %v; target: %v)", tc.op, i+1, ops, wc.Status, p.c.Err(), p.s.Err())
				}
			}
		})
	}
}

// churn stores into mem, word by word, until the returned stop is called.
func churn(mem []byte) (stop func()) {
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(mem))), len(mem)/8)
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := uint64(1); !done.Load(); v++ {
			for i := range words {
				atomic.StoreUint64(&words[i], v)
			}
		}
	}()
	return func() {
		done.Store(true)
		wg.Wait()
	}
}

// TestStableReadUnstaged: a key with the AccessStable promise has its Read
// Responses sent from the memory itself, not a copy. Kept, the promise
// gives the bytes as they are; broken (the owner stores while the peer
// reads, as TestTargetMemoryChanges does), the CRC taken over the memory
// no longer covers what the kernel copied, and the connection ends. That
// it ends shows the copy is gone: a staged Read Response never fails so.
func TestStableReadUnstaged(t *testing.T) {
	const n = 2 << 20
	for _, broken := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken=%v", broken), func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Munmap(mem) })
			for i := range mem {
				mem[i] = byte(i * 7)
			}
			tgt, err := p.s.PD().Register(mem, verbs.AccessRemoteRead|verbs.AccessStable)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tgt.Deregister() })
			local, lb := region(t, p.c.PD(), n, verbs.AccessLocalWrite)
			if broken {
				stop := churn(mem)
				defer stop()
			}
			for i := range 32 {
				mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpRead, Local: verbs.SGEOf(local, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()})
				wc := waitN(t, p.c.SendCQ(), 1)[0]
				switch {
				case broken && wc.Status != verbs.StatusSuccess:
					return // the CRC caught the stores: nothing was copied
				case wc.Status != verbs.StatusSuccess:
					t.Fatalf("read %d: %v (initiator: %v; target: %v)", i+1, wc.Status, p.c.Err(), p.s.Err())
				case !broken && !bytes.Equal(lb, mem):
					t.Fatalf("read %d: the bytes differ from the target's", i+1)
				}
			}
			if broken {
				t.Fatal("32 Reads of memory stored into all along completed: the Read Responses were staged")
			}
		})
	}
}
