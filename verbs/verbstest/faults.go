package verbstest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// faultSetup is the world of one remote access fault case.
type faultSetup struct {
	e        *env
	p        *pair
	tgt, src *region
	ro, wo   *region // RemoteRead only, RemoteWrite only
	other    *region // registered on another connection's PD
}

// faultCase is one remote access fault: wr builds the faulting request.
type faultCase struct {
	name string
	wr   func(f *faultSetup) verbs.SendWR
}

// faultCases are the ways a one-sided request can fault at the target.
func faultCases() []faultCase {
	wr := func(op verbs.Opcode, r *region, off, n int, f *faultSetup) verbs.SendWR {
		k, a := r.remote(off)
		return verbs.SendWR{Op: op, Local: f.src.sge(0, n), RKey: k, Remote: a}
	}
	return []faultCase{
		{"write-bad-rkey", func(f *faultSetup) verbs.SendWR {
			w := wr(verbs.OpWrite, f.tgt, 0, 10, f)
			w.RKey ^= 0x5a5a5a00
			return w
		}},
		{"read-bad-rkey", func(f *faultSetup) verbs.SendWR {
			w := wr(verbs.OpRead, f.tgt, 0, 10, f)
			w.RKey ^= 0x5a5a5a00
			return w
		}},
		{"write-past-end", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpWrite, f.tgt, f.tgt.mr.Len()-10, 11, f) }},
		{"write-far-past-end", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpWrite, f.tgt, 1<<30, 1, f) }},
		{"write-below-base", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpWrite, f.tgt, -1, 1, f) }},
		{"read-past-end", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpRead, f.tgt, f.tgt.mr.Len()-6, 100, f) }},
		{"read-below-base", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpRead, f.tgt, -8, 8, f) }},
		{"write-read-only", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpWrite, f.ro, 0, 10, f) }},
		{"read-write-only", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpRead, f.wo, 0, 10, f) }},
		{"write-other-pd", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpWrite, f.other, 0, 10, f) }},
		{"read-other-pd", func(f *faultSetup) verbs.SendWR { return wr(verbs.OpRead, f.other, 0, 10, f) }},
		{"write-deregistered", func(f *faultSetup) verbs.SendWR {
			f.e.deregister(f.tgt)
			return wr(verbs.OpWrite, f.tgt, 0, 10, f)
		}},
		{"read-deregistered", func(f *faultSetup) verbs.SendWR {
			f.e.deregister(f.tgt)
			return wr(verbs.OpRead, f.tgt, 0, 10, f)
		}},
	}
}

func (s *suite) testFaults(t *testing.T) {
	for _, tc := range faultCases() {
		t.Run(tc.name, func(t *testing.T) { s.testFault(t, tc.wr) })
	}
}

// testFault posts a good Write, the faulting request mk builds and three
// more, and checks that the fault breaks the connection alone: the first
// Write landed, the rest flushed, another connection works.
func (s *suite) testFault(t *testing.T, mk func(f *faultSetup) verbs.SendWR) {
	e := s.env(t)
	f := &faultSetup{e: e, p: e.connect(verbs.QPConfig{SendDepth: 8}, verbs.QPConfig{}, nil)}
	f.tgt = e.region(f.p.s.PD(), 4096, rw)
	f.ro = e.region(f.p.s.PD(), 4096, verbs.AccessRemoteRead)
	f.wo = e.region(f.p.s.PD(), 4096, verbs.AccessRemoteWrite)
	f.src = e.region(f.p.c.PD(), 4096, verbs.AccessLocalWrite)
	other := e.connect(verbs.QPConfig{}, verbs.QPConfig{}, nil)
	f.other = e.region(other.s.PD(), 4096, rw)
	good := e.region(f.p.s.PD(), 4096, rw)
	fill(good.buf, 5)
	canary := bytes.Clone(good.buf)

	bad := mk(f)
	bad.ID = 1
	n := e.postUntilClosed(f.p.c,
		write(0, f.src, 0, 8, good, 0),
		bad,
		write(2, f.src, 0, 8, good, 64),
		read(3, f.src, 0, 8, good, 0),
		write(4, f.src, 0, 8, good, 128))
	if n < 2 {
		t.Fatalf("the QP failed before the faulting request was posted (%d posted)", n)
	}
	wcs := e.waitN(f.p.c.SendCQ(), n)
	e.want(wcs, seq(n), append([]verbs.Status{verbs.StatusSuccess, verbs.StatusRemoteAccess}, repeat(verbs.StatusFlushed, 3)...)[:n]...)
	if err := wcs[1].Err(); !errors.Is(err, verbs.ErrRemoteAccess) {
		t.Fatalf("fault completion error %v does not wrap ErrRemoteAccess", err)
	}
	if err := wcs[n-1].Err(); n > 2 && !errors.Is(err, verbs.ErrFlushed) {
		t.Fatalf("flushed completion error %v does not wrap ErrFlushed", err)
	}
	e.waitDone(f.p.c, "faulting initiator's")
	e.waitDone(f.p.s, "faulted target's")
	if err := f.p.c.PostSend(write(9, f.src, 0, 8, good, 0)); !errors.Is(err, verbs.ErrClosed) {
		t.Fatalf("post after the fault: %v, want ErrClosed", err)
	}
	if _, err := f.p.c.SendCQ().Wait(e.ctx, make([]verbs.WC, 1)); !errors.Is(err, verbs.ErrClosed) {
		t.Fatalf("waiting on the drained CQ: %v, want ErrClosed", err)
	}
	// The flushed Writes did not land; the first one did.
	if !bytes.Equal(good.buf[:8], f.src.buf[:8]) || !bytes.Equal(good.buf[64:], canary[64:]) {
		t.Fatal("target memory after the fault is not the first Write alone")
	}
	// The other connection is unaffected.
	osrc := e.region(other.c.PD(), 64, 0)
	e.post(other.c, write(0, osrc, 0, 64, f.other, 0))
	e.want(e.waitN(other.c.SendCQ(), 1), []uint64{0}, verbs.StatusSuccess)
}

// Deregister racing a storm of Writes of every size: once Deregister
// returns, nothing lands. The test fills the target with a canary after
// Deregister returned and checks, once the storm has ended, that no byte of
// it changed.
func (s *suite) testRevocation(t *testing.T) {
	const size, depth = 256 << 10, 16
	for round := range 6 {
		e := s.env(t)
		p := e.connect(verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{}, nil)
		tgt := e.region(p.s.PD(), size, verbs.AccessRemoteWrite)
		src := e.region(p.c.PD(), size, 0)
		for i := range src.buf {
			src.buf[i] = 0xAA
		}
		rkey, base := tgt.remote(0)
		started := make(chan struct{})
		storm := make(chan error, 1)
		go func() {
			err := writeStorm(p.c, src, rkey, base, size, depth, 8*(round+1), started)
			if errors.Is(err, verbs.ErrClosed) {
				err = nil // the end the test brings about
			}
			storm <- err
		}()
		select {
		case <-started:
		case err := <-storm:
			t.Fatalf("storm ended before it started: %v", err)
		}
		e.deregister(tgt)
		for i := range tgt.buf {
			tgt.buf[i] = 0x5C
		}
		if err := <-storm; err != nil {
			t.Fatalf("storm: %v", err)
		}
		e.waitDone(p.s, "target")
		for i, b := range tgt.buf {
			if b != 0x5C {
				t.Fatalf("round %d: byte %d of the target was written after Deregister returned", round, i)
			}
		}
	}
}

// writeStorm keeps q's send queue full of Writes from src, of 1 B to 64 KiB,
// into the four quarters of size bytes at base under rkey, until q fails,
// and returns that failure. It closes started once warm Writes completed.
func writeStorm(q verbs.QP, src *region, rkey uint32, base uint64, size, depth, warm int, started chan struct{}) error {
	wcs := make([]verbs.WC, depth)
	var id uint64
	completed := 0
	for {
		for {
			n := 1 + int(id%5)*(64<<10-1)/4 // 1 B .. 64 KiB
			off := int(id%4) * (size / 4)
			err := q.PostSend(verbs.SendWR{ID: id, Op: verbs.OpWrite, Local: src.sge(0, n), RKey: rkey, Remote: base + uint64(off)})
			if errors.Is(err, verbs.ErrQueueFull) {
				break
			}
			if err != nil {
				return err
			}
			id++
		}
		k, err := q.SendCQ().Wait(context.Background(), wcs)
		if err != nil {
			return err
		}
		completed += k
		if completed >= warm && started != nil {
			close(started)
			started = nil
		}
	}
}
