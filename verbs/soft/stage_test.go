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

// TestStableReadUnstaged: Read Responses through a key with the
// AccessStable promise are written from the memory itself, the bytes as
// they are; through a key without it, from staged copies.
func TestStableReadUnstaged(t *testing.T) {
	const n = 2 << 20
	for _, stable := range []bool{true, false} {
		t.Run(fmt.Sprintf("stable=%v", stable), func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Munmap(mem) })
			for i := range mem {
				mem[i] = byte(i * 7)
			}
			access := verbs.AccessRemoteRead
			if stable {
				access |= verbs.AccessStable
			}
			tgt, err := p.s.PD().Register(mem, access)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tgt.Deregister() })
			local, lb := region(t, p.c.PD(), n, verbs.AccessLocalWrite)
			staged := segStages.taken.Load()
			for i := range 4 {
				mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpRead, Local: verbs.SGEOf(local, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()})
				if wc := waitN(t, p.c.SendCQ(), 1)[0]; wc.Status != verbs.StatusSuccess {
					t.Fatalf("read %d: %v (initiator: %v; target: %v)", i+1, wc.Status, p.c.Err(), p.s.Err())
				}
				if !bytes.Equal(lb, mem) {
					t.Fatalf("read %d: the bytes differ from the target's", i+1)
				}
			}
			switch staged = segStages.taken.Load() - staged; {
			case stable && staged != 0:
				t.Fatalf("4 Reads of 2 MiB through a stable key staged %d FPDUs, want none", staged)
			case !stable && staged == 0:
				t.Fatal("4 Reads of 2 MiB through a key without the promise staged nothing")
			}
		})
	}
}
