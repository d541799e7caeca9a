package verbstest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

func (s *suite) testSendRecv(t *testing.T) {
	e := s.env(t)
	// Sizes straddle a 64 KiB segment and a 4 KiB MTU.
	sizes := []int{0, 1, 3, 4096, 4097, 65535, 65536 + 13, 200000}
	const slot = 256 << 10
	var sink *region
	prepare := func(q verbs.QP) error {
		sink = e.region(q.PD(), len(sizes)*slot, verbs.AccessLocalWrite)
		for i := range sizes {
			// IDs that are not the post order's indexes.
			if err := q.PostRecv(verbs.RecvWR{ID: 1000 + uint64(i)*3, Local: sink.sge(i*slot, slot)}); err != nil {
				return err
			}
		}
		return nil
	}
	p := e.connect(verbs.QPConfig{SendDepth: len(sizes)}, verbs.QPConfig{RecvDepth: len(sizes)}, prepare)
	src := e.region(p.c.PD(), slot, 0)
	fill(src.buf, 1)
	ids := make([]uint64, len(sizes))
	for i, n := range sizes {
		ids[i] = 7 + uint64(i)*11
		// Each message starts at a different source offset.
		e.post(p.c, verbs.SendWR{ID: ids[i], Op: verbs.OpSend, Local: src.sge(i, n)})
	}
	e.want(e.waitN(p.c.SendCQ(), len(sizes)), ids, repeat(verbs.StatusSuccess, len(sizes))...)
	for i, wc := range e.waitN(p.s.RecvCQ(), len(sizes)) {
		if wc.ID != 1000+uint64(i)*3 || wc.Op != verbs.OpRecv || wc.Status != verbs.StatusSuccess || int(wc.ByteLen) != sizes[i] {
			t.Fatalf("receive %d completed as %+v, want %d bytes", i, wc, sizes[i])
		}
		if !bytes.Equal(sink.buf[i*slot:i*slot+sizes[i]], src.buf[i:i+sizes[i]]) {
			t.Fatalf("message %d (%d bytes) arrived changed", i, sizes[i])
		}
	}

	// And back, once the active side has spoken.
	back := e.region(p.c.PD(), 4096, verbs.AccessLocalWrite)
	if err := p.c.PostRecv(verbs.RecvWR{ID: 9, Local: back.sge(100, 4096-100)}); err != nil {
		t.Fatal(err)
	}
	copy(sink.buf, "pong")
	e.post(p.s, verbs.SendWR{ID: 3, Op: verbs.OpSend, Local: sink.sge(0, 4)})
	e.want(e.waitN(p.s.SendCQ(), 1), []uint64{3}, verbs.StatusSuccess)
	if wc := e.waitN(p.c.RecvCQ(), 1)[0]; wc.ID != 9 || wc.ByteLen != 4 || string(back.buf[100:104]) != "pong" {
		t.Fatalf("reply completed as %+v with %q", wc, back.buf[100:104])
	}
}

// A message longer than the posted receive: the receiver completes it with
// a local length error, the sender with a remote invalid request, and the
// connection ends. rxe reports a remote operation error at the sender and
// a local protection error at the receiver; both are accepted.
func (s *suite) testRecvTooSmall(t *testing.T) {
	e := s.env(t)
	prepare := func(q verbs.QP) error {
		r := e.region(q.PD(), 16, verbs.AccessLocalWrite)
		return q.PostRecv(verbs.RecvWR{ID: 4, Local: r.sge(0, 16)})
	}
	p := e.connect(verbs.QPConfig{}, verbs.QPConfig{}, prepare)
	src := e.region(p.c.PD(), 100, 0)
	n := e.postUntilClosed(p.c,
		verbs.SendWR{ID: 0, Op: verbs.OpSend, Local: src.sge(0, 17)},
		verbs.SendWR{ID: 1, Op: verbs.OpSend, Local: src.sge(0, 1)})
	wcs := e.waitN(p.c.SendCQ(), n)
	if st := wcs[0].Status; st == verbs.StatusRemoteOp {
		wcs[0].Status = verbs.StatusRemoteInvalidRequest
	}
	e.want(wcs, seq(n), []verbs.Status{verbs.StatusRemoteInvalidRequest, verbs.StatusFlushed}[:n]...)
	wc := e.waitN(p.s.RecvCQ(), 1)[0]
	if wc.Status == verbs.StatusLocalProt {
		wc.Status = verbs.StatusLocalLength
	}
	if wc.ID != 4 || wc.Status != verbs.StatusLocalLength {
		t.Fatalf("receiver completed %+v, want ID 4 with %v", wc, verbs.StatusLocalLength)
	}
	e.waitDone(p.c, "sender")
	e.waitDone(p.s, "receiver")
}

// writeReadCase is one Write and a Read back of it.
type writeReadCase struct {
	n, roff, loff int
}

func (s *suite) testWriteRead(t *testing.T) {
	const size = 2<<20 + 4096
	e := s.env(t)
	p := e.connect(verbs.QPConfig{SendDepth: 4}, verbs.QPConfig{}, nil)
	tgt := e.region(p.s.PD(), size, rw)
	src := e.region(p.c.PD(), size, 0)
	sink := e.region(p.c.PD(), size, verbs.AccessLocalWrite)
	tests := []writeReadCase{
		{1, 0, 0}, {1, 13, 5}, {2, 4095, 1}, {3, size - 3, 0}, {7, 1, 1},
		{4096, 0, 0}, {4096, 4093, 1}, {4099, 1, 3}, {8192, 4096, 4095},
		{65536, 0, 0}, {65536 + 1, 65535, 7}, {200000, 12345, 999},
		{1 << 20, 0, 0}, {1<<20 + 1, 7, 9}, {2 << 20, 0, 0}, {2 << 20, 4096 - 1, 33},
		{2 << 20, 4096, 4096},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d@%d<-%d", tc.n, tc.roff, tc.loff), func(t *testing.T) {
			e.t = t
			fill(src.buf[tc.loff:tc.loff+tc.n], uint64(i))
			clear(sink.buf[tc.loff : tc.loff+tc.n])
			e.post(p.c, write(10, src, tc.loff, tc.n, tgt, tc.roff), read(11, sink, tc.loff, tc.n, tgt, tc.roff))
			e.want(e.waitN(p.c.SendCQ(), 2), []uint64{10, 11}, verbs.StatusSuccess, verbs.StatusSuccess)
			want := src.buf[tc.loff : tc.loff+tc.n]
			if !bytes.Equal(sink.buf[tc.loff:tc.loff+tc.n], want) {
				t.Fatal("read back differs from what was written")
			}
			if !bytes.Equal(tgt.buf[tc.roff:tc.roff+tc.n], want) {
				t.Fatal("target memory differs from what was written")
			}
		})
	}
	e.t = t
}

// The send queue kept full at depths 1, 4 and 16: chunks of different data
// written to distinct slots, then read back, depth at a time.
func (s *suite) testQueueDepth(t *testing.T) {
	for _, depth := range []int{1, 4, 16} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			const chunk, nops = 96<<10 + 3, 48
			e := s.env(t)
			p := e.connect(verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{}, nil)
			tgt := e.region(p.s.PD(), nops*chunk, rw)
			src := e.region(p.c.PD(), nops*chunk, 0)
			sink := e.region(p.c.PD(), nops*chunk, verbs.AccessLocalWrite)
			fill(src.buf, uint64(depth))
			e.pipeline(p.c, depth, nops, func(i int) verbs.SendWR {
				return write(uint64(i), src, i*chunk, chunk, tgt, (nops-1-i)*chunk)
			})
			e.pipeline(p.c, depth, nops, func(i int) verbs.SendWR {
				return read(uint64(i), sink, i*chunk, chunk, tgt, (nops-1-i)*chunk)
			})
			if !bytes.Equal(sink.buf, src.buf) {
				t.Fatal("data read back differs from what was written")
			}
		})
	}
}

// pipeline posts n work requests keeping depth outstanding, and checks that
// they complete successfully in order. Posting up to depth must never find
// the queue full.
func (e *env) pipeline(q verbs.QP, depth, n int, wr func(i int) verbs.SendWR) {
	e.t.Helper()
	wcs := make([]verbs.WC, depth)
	posted, done := 0, 0
	for done < n {
		for posted < n && posted-done < depth {
			if err := q.PostSend(wr(posted)); err != nil {
				e.t.Fatalf("post %d with %d outstanding of depth %d: %v", posted, posted-done, depth, err)
			}
			posted++
		}
		k, err := q.SendCQ().Wait(e.ctx, wcs)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, wc := range wcs[:k] {
			if wc.ID != uint64(done) || wc.Status != verbs.StatusSuccess {
				e.t.Fatalf("completion %d = %+v (%v)", done, wc, wc.Status)
			}
			done++
		}
	}
}

// Completions come in post order with the caller's IDs, whatever the mix
// of operations; a Read sees every Write posted before it on the QP, the
// last of two Writes to the same range wins. (A Write posted after a Read
// may pass it, as on every RNIC without a fence, so each group uses its
// own range.)
func (s *suite) testOrdering(t *testing.T) {
	const groups, size = 10, 64 << 10
	const depth = 4 * groups
	e := s.env(t)
	var recv *region
	prepare := func(q verbs.QP) error {
		recv = e.region(q.PD(), groups*64, verbs.AccessLocalWrite)
		for i := range groups {
			if err := q.PostRecv(verbs.RecvWR{ID: uint64(i), Local: recv.sge(i*64, 64)}); err != nil {
				return err
			}
		}
		return nil
	}
	p := e.connect(verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{RecvDepth: groups}, prepare)
	tgt := e.region(p.s.PD(), groups*size, rw)
	src := e.region(p.c.PD(), 2*groups*size, 0)
	sink := e.region(p.c.PD(), groups*size, verbs.AccessLocalWrite)
	fill(src.buf, 42)

	var ids []uint64
	ops := []verbs.Opcode{verbs.OpWrite, verbs.OpWrite, verbs.OpRead, verbs.OpSend}
	for i := range depth {
		id := uint64(0xbeef0000) ^ uint64(i)*0x9e37 // not the post index
		ids = append(ids, id)
		var wr verbs.SendWR
		switch g := i / 4; i % 4 {
		case 0, 1: // two versions of group g's range
			wr = write(id, src, (2*g+i%4)*size, size, tgt, g*size)
		case 2:
			wr = read(id, sink, g*size, size, tgt, g*size)
		default:
			wr = verbs.SendWR{ID: id, Op: verbs.OpSend, Local: src.sge(i, 64)}
		}
		e.post(p.c, wr)
	}
	wcs := e.waitN(p.c.SendCQ(), depth)
	e.want(wcs, ids, repeat(verbs.StatusSuccess, depth)...)
	for i, wc := range wcs {
		if wc.Op != ops[i%4] {
			t.Fatalf("completion %d has opcode %v, want %v", i, wc.Op, ops[i%4])
		}
	}
	for g := range groups {
		if !bytes.Equal(sink.buf[g*size:(g+1)*size], src.buf[(2*g+1)*size:(2*g+2)*size]) {
			t.Fatalf("read %d did not see the second of the two writes posted before it", g)
		}
	}
	for i, wc := range e.waitN(p.s.RecvCQ(), groups) {
		if wc.ID != uint64(i) || wc.ByteLen != 64 || !bytes.Equal(recv.buf[i*64:(i+1)*64], src.buf[4*i+3:4*i+3+64]) {
			t.Fatalf("receive %d completed as %+v", i, wc)
		}
	}
}

// After the QP is closed, posting fails with ErrClosed and the queues end.
func (s *suite) testPostAfterClose(t *testing.T) {
	e := s.env(t)
	p := e.connect(verbs.QPConfig{}, verbs.QPConfig{}, nil)
	src := e.region(p.c.PD(), 64, verbs.AccessLocalWrite)
	if err := p.c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	e.waitDone(p.c, "closed")
	e.waitDone(p.s, "peer of the closed")
	if err := p.c.PostSend(verbs.SendWR{Op: verbs.OpSend, Local: src.sge(0, 1)}); !errors.Is(err, verbs.ErrClosed) {
		t.Fatalf("post send after close: %v, want ErrClosed", err)
	}
	if err := p.c.PostRecv(verbs.RecvWR{Local: src.sge(0, 1)}); !errors.Is(err, verbs.ErrClosed) {
		t.Fatalf("post recv after close: %v, want ErrClosed", err)
	}
	if _, err := p.c.SendCQ().Wait(e.ctx, make([]verbs.WC, 1)); !errors.Is(err, verbs.ErrClosed) {
		t.Fatalf("waiting on a drained CQ of a closed QP: %v, want ErrClosed", err)
	}
}
