package soft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/brick-storage/brick/verbs"
)

func TestConnect(t *testing.T) {
	tests := []struct {
		name   string
		reject bool
		pd     []byte
	}{
		{"accept", false, []byte("welcome")},
		{"accept-empty", false, nil},
		{"accept-max", false, bytes.Repeat([]byte{7}, MaxPrivateData)},
		{"reject", true, []byte("go away")},
		{"reject-empty", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			ln := listen(t)
			errc := make(chan error, 1)
			var sq verbs.QP
			go func() {
				cr, err := ln.Accept(ctx)
				if err != nil {
					errc <- err
					return
				}
				if string(cr.PrivateData()) != "hello" {
					errc <- errors.New("bad request private data " + string(cr.PrivateData()))
					return
				}
				if tc.reject {
					errc <- cr.Reject(tc.pd)
					return
				}
				sq, err = cr.Accept(verbs.QPConfig{}, tc.pd, nil)
				errc <- err
			}()
			q, err := New().Dial(ctx, ln.Addr(), verbs.QPConfig{}, []byte("hello"))
			if aerr := <-errc; aerr != nil {
				t.Fatal(aerr)
			}
			if tc.reject {
				var rej *verbs.RejectedError
				if !errors.As(err, &rej) || !errors.Is(err, verbs.ErrRejected) {
					t.Fatalf("dial: %v, want rejection", err)
				}
				if !bytes.Equal(rej.PrivateData, tc.pd) {
					t.Fatalf("reject data %q, want %q", rej.PrivateData, tc.pd)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			defer sq.Close()
			if !bytes.Equal(q.PrivateData(), tc.pd) || string(sq.PrivateData()) != "hello" {
				t.Fatalf("private data %q / %q", q.PrivateData(), sq.PrivateData())
			}
			if q.PD() == sq.PD() {
				t.Fatal("both ends share a PD")
			}
		})
	}
}

func TestDialPrivateDataTooLong(t *testing.T) {
	_, err := New().Dial(testCtx(t), "127.0.0.1:1", verbs.QPConfig{}, make([]byte, mpaMaxPD+1))
	if !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
}

// A server that accepts TCP but never answers MPA: Dial honours ctx.
func TestDialTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 100))
			time.Sleep(500 * time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = New().Dial(ctx, ln.Addr().String(), verbs.QPConfig{}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestSendRecv(t *testing.T) {
	const nmsg = 4
	sizes := []int{0, 1, 4096, 200000} // the last spans several FPDUs
	var srecv verbs.MR
	var sbuf []byte
	prepare := func(q verbs.QP) error {
		srecv, sbuf = region(t, q.PD(), nmsg*200000, verbs.AccessLocalWrite)
		for i := range nmsg {
			if err := q.PostRecv(verbs.RecvWR{ID: uint64(i), Local: verbs.SGEOf(srecv, i*200000, 200000)}); err != nil {
				return err
			}
		}
		return nil
	}
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, prepare)
	src, sb := region(t, p.c.PD(), 200000, 0)
	for i := range sb {
		sb[i] = byte(i * 7)
	}
	for i, n := range sizes {
		mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, n)})
	}
	wantStatuses(t, waitN(t, p.c.SendCQ(), nmsg), verbs.StatusSuccess, verbs.StatusSuccess, verbs.StatusSuccess, verbs.StatusSuccess)
	wcs := waitN(t, p.s.RecvCQ(), nmsg)
	for i, wc := range wcs {
		if wc.ID != uint64(i) || wc.Op != verbs.OpRecv || wc.Status != verbs.StatusSuccess || int(wc.ByteLen) != sizes[i] {
			t.Fatalf("recv %d: %+v", i, wc)
		}
		if !bytes.Equal(sbuf[i*200000:i*200000+sizes[i]], sb[:sizes[i]]) {
			t.Fatalf("recv %d: payload differs", i)
		}
	}

	// And back: the server may send once the client has spoken.
	crecv, cb := region(t, p.c.PD(), 64, verbs.AccessLocalWrite)
	if err := p.c.PostRecv(verbs.RecvWR{ID: 9, Local: verbs.SGEOf(crecv, 0, 64)}); err != nil {
		t.Fatal(err)
	}
	copy(sbuf, "pong")
	mustPost(t, p.s, verbs.SendWR{ID: 0, Op: verbs.OpSend, Local: verbs.SGEOf(srecv, 0, 4)})
	wantStatuses(t, waitN(t, p.s.SendCQ(), 1), verbs.StatusSuccess)
	if wc := waitN(t, p.c.RecvCQ(), 1)[0]; wc.ID != 9 || wc.ByteLen != 4 || string(cb[:4]) != "pong" {
		t.Fatalf("client recv %+v %q", wc, cb[:4])
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		recvLen    int // 0: post no receive
		wantSend   verbs.Status
		wantRecv   verbs.Status
		recvPosted bool
	}{
		{"no-receive", 0, verbs.StatusRNR, 0, false},
		{"too-long", 16, verbs.StatusRemoteInvalidRequest, verbs.StatusLocalLength, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prepare := func(q verbs.QP) error {
				if !tc.recvPosted {
					return nil
				}
				mr, _ := region(t, q.PD(), tc.recvLen, verbs.AccessLocalWrite)
				return q.PostRecv(verbs.RecvWR{ID: 0, Local: verbs.SGEOf(mr, 0, tc.recvLen)})
			}
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, prepare)
			src, _ := region(t, p.c.PD(), 100, 0)
			n := postAll(t, p.c,
				verbs.SendWR{ID: 0, Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, 100)},
				verbs.SendWR{ID: 1, Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, 1)})
			wantStatuses(t, waitN(t, p.c.SendCQ(), n), []verbs.Status{tc.wantSend, verbs.StatusFlushed}[:n]...)
			if tc.recvPosted {
				wantStatuses(t, waitN(t, p.s.RecvCQ(), 1), tc.wantRecv)
			}
			waitDone(t, p.c)
			waitDone(t, p.s)
			if p.s.Err() == nil || p.c.Err() == nil {
				t.Fatalf("errors: server %v client %v", p.s.Err(), p.c.Err())
			}
		})
	}
}

func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func TestWriteReadBack(t *testing.T) {
	const size = 2<<20 + 64
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	tgt, tb := region(t, p.s.PD(), size, rw)
	src, sb := region(t, p.c.PD(), size, 0)
	sink, kb := region(t, p.c.PD(), size, verbs.AccessLocalWrite)
	tests := []struct {
		n, off, loff int
	}{
		{1, 0, 0}, {1, 13, 5}, {4096, 0, 0}, {4096, 4093, 1}, {4099, 1, 3},
		{1 << 20, 0, 0}, {1<<20 + 1, 7, 9}, {2 << 20, 0, 0}, {2 << 20, 63, 33},
		{0, 5, 0},
	}
	for i, tc := range tests {
		fill(sb, uint64(i))
		clear(kb)
		mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, tc.loff, tc.n), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(tc.off)})
		mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(sink, tc.loff, tc.n), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(tc.off)})
		wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
		if !bytes.Equal(kb[tc.loff:tc.loff+tc.n], sb[tc.loff:tc.loff+tc.n]) {
			t.Fatalf("case %+v: read back differs", tc)
		}
		syncMR(tgt) // the target's memory is another machine's: order our view after its placement
		if !bytes.Equal(tb[tc.off:tc.off+tc.n], sb[tc.loff:tc.loff+tc.n]) {
			t.Fatalf("case %+v: target memory differs", tc)
		}
	}
}

// Many outstanding requests, completions in post order, and every Read sees
// the Writes posted before it.
func TestManyOutstandingOrdering(t *testing.T) {
	const depth, chunk, rounds = 64, 8192, 8
	p := newPair(t, verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{}, nil)
	tgt, _ := region(t, p.s.PD(), depth*chunk, rw)
	src, sb := region(t, p.c.PD(), depth*chunk, 0)
	sink, kb := region(t, p.c.PD(), depth*chunk, verbs.AccessLocalWrite)
	for r := range rounds {
		fill(sb, uint64(r))
		for i := 0; i < depth; i += 2 {
			off := i / 2 * chunk
			mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpWrite, Local: verbs.SGEOf(src, off, chunk), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(off)})
			mustPost(t, p.c, verbs.SendWR{ID: uint64(i + 1), Op: verbs.OpRead, Local: verbs.SGEOf(sink, off, chunk), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(off)})
		}
		st := make([]verbs.Status, depth)
		wantStatuses(t, waitN(t, p.c.SendCQ(), depth), st...)
		if !bytes.Equal(kb[:depth/2*chunk], sb[:depth/2*chunk]) {
			t.Fatalf("round %d: read did not see the preceding write", r)
		}
	}
}

// Concurrent posters on one QP.
func TestConcurrentPosters(t *testing.T) {
	p := newPair(t, verbs.QPConfig{SendDepth: 128}, verbs.QPConfig{}, nil)
	tgt, _ := region(t, p.s.PD(), 1<<16, rw)
	src, _ := region(t, p.c.PD(), 1<<16, 0)
	const workers, each = 8, 200
	done := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range each {
				for {
					err := p.c.PostSend(verbs.SendWR{ID: uint64(w*each + i), Op: verbs.OpWrite, Local: verbs.SGEOf(src, w*64, 64), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(w*64)})
					if err == nil {
						break
					}
					if !errors.Is(err, verbs.ErrQueueFull) {
						done <- err
						return
					}
					time.Sleep(50 * time.Microsecond)
				}
			}
			done <- nil
		}()
	}
	wcs := waitN(t, p.c.SendCQ(), workers*each)
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint64]bool)
	for _, wc := range wcs {
		if wc.Status != verbs.StatusSuccess || seen[wc.ID] {
			t.Fatalf("bad completion %+v", wc)
		}
		seen[wc.ID] = true
	}
}

func TestRemoteAccessFaults(t *testing.T) {
	type setup struct {
		p        *pair
		tgt, src verbs.MR
		other    verbs.MR // same-process region of another PD
		ro, wo   verbs.MR // RemoteRead only, RemoteWrite only
	}
	tests := []struct {
		name string
		wr   func(s *setup) verbs.SendWR
	}{
		{"bad-rkey", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: 0xdeadbe00, Remote: s.tgt.Addr()}
		}},
		{"write-out-of-range", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 100), RKey: s.tgt.RKey(), Remote: s.tgt.Addr() + uint64(s.tgt.Len()) - 10}
		}},
		{"write-below-base", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 1), RKey: s.tgt.RKey(), Remote: s.tgt.Addr() - 1}
		}},
		{"write-read-only-region", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.ro.RKey(), Remote: s.ro.Addr()}
		}},
		{"read-write-only-region", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.wo.RKey(), Remote: s.wo.Addr()}
		}},
		{"read-out-of-range", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 100), RKey: s.tgt.RKey(), Remote: s.tgt.Addr() + 4090}
		}},
		{"key-of-other-pd", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.other.RKey(), Remote: s.other.Addr()}
		}},
		{"read-key-of-other-pd", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.other.RKey(), Remote: s.other.Addr()}
		}},
		{"key-after-deregister", func(s *setup) verbs.SendWR {
			if err := s.tgt.Deregister(); err != nil {
				panic(err)
			}
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.tgt.RKey(), Remote: s.tgt.Addr()}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &setup{p: newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)}
			s.tgt, _ = region(t, s.p.s.PD(), 4096, rw)
			s.ro, _ = region(t, s.p.s.PD(), 4096, verbs.AccessRemoteRead)
			s.wo, _ = region(t, s.p.s.PD(), 4096, verbs.AccessRemoteWrite)
			s.src, _ = region(t, s.p.c.PD(), 4096, verbs.AccessLocalWrite)
			s.other, _ = region(t, newPD(), 4096, rw)
			good, _ := region(t, s.p.s.PD(), 4096, rw)
			c := s.p.c
			bad := tc.wr(s)
			bad.ID = 1
			n := postAll(t, c,
				verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 8), RKey: good.RKey(), Remote: good.Addr()},
				bad,
				verbs.SendWR{ID: 2, Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 8), RKey: good.RKey(), Remote: good.Addr()},
				verbs.SendWR{ID: 3, Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 8), RKey: good.RKey(), Remote: good.Addr()})
			if n < 2 {
				t.Fatalf("only %d posted", n)
			}
			wcs := waitN(t, c.SendCQ(), n)
			wantStatuses(t, wcs, []verbs.Status{verbs.StatusSuccess, verbs.StatusRemoteAccess, verbs.StatusFlushed, verbs.StatusFlushed}[:n]...)
			if !errors.Is(wcs[1].Err(), verbs.ErrRemoteAccess) {
				t.Fatal(wcs[1].Err())
			}
			waitDone(t, c)
			waitDone(t, s.p.s)
			if !errors.Is(s.p.s.Err(), verbs.ErrRemoteAccess) || !errors.Is(c.Err(), verbs.ErrRemoteAccess) {
				t.Fatalf("errors: server %v, client %v", s.p.s.Err(), c.Err())
			}
			if err := c.PostSend(verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 8), RKey: good.RKey(), Remote: good.Addr()}); !isClosed(err) {
				t.Fatalf("post after error: %v", err)
			}
			if _, err := c.SendCQ().Wait(testCtx(t), make([]verbs.WC, 1)); !isClosed(err) {
				t.Fatalf("wait after drain: %v", err)
			}
		})
	}
}

// Deregister racing a storm of Writes: once it returns, no byte lands.
func TestRevocationRace(t *testing.T) {
	for round := range 4 {
		p := newPair(t, verbs.QPConfig{SendDepth: 16}, verbs.QPConfig{}, nil)
		const size = 256 << 10
		buf := make([]byte, size)
		tgt, err := p.s.PD().Register(buf, verbs.AccessRemoteWrite)
		if err != nil {
			t.Fatal(err)
		}
		src, sb := region(t, p.c.PD(), size, 0)
		for i := range sb {
			sb[i] = 0xAA
		}
		stormDone := writeStorm(context.Background(), p.c, src, tgt, size, 32*(round+1))
		if err := tgt.Deregister(); err != nil {
			t.Fatal(err)
		}
		clear(buf) // races with any placement that were still to come
		<-stormDone
		waitDone(t, p.s)
		for i, b := range buf {
			if b != 0 {
				t.Fatalf("round %d: byte %d written after Deregister returned", round, i)
			}
		}
		if !errors.Is(p.s.Err(), verbs.ErrRemoteAccess) {
			t.Fatalf("server error %v", p.s.Err())
		}
	}
}

// Junk on the listening port ends only that connection.
func TestGarbageIsolated(t *testing.T) {
	ctx := testCtx(t)
	ln := listen(t)
	accepted := make(chan *QP, 8)
	go func() {
		for {
			cr, err := ln.Accept(ctx)
			if err != nil {
				close(accepted)
				return
			}
			q, err := cr.Accept(verbs.QPConfig{}, nil, nil)
			if err == nil {
				accepted <- q.(*QP)
			}
		}
	}()
	raw := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// A peer that stalls in MPA setup must not hold up the others.
	raw()
	// Not MPA at all.
	raw().Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	// MPA request with an oversize private data length.
	bad := appendMPA(nil, false, false, nil)
	bad[18], bad[19] = 0xff, 0xff
	raw().Write(bad)
	// Valid MPA, then an FPDU with a wrong CRC.
	junk := raw()
	junk.Write(appendMPA(nil, false, false, nil))
	rep, err := readMPA(junk, true)
	if err != nil || rep.reject {
		t.Fatalf("reply %+v %v", rep, err)
	}
	var h [untaggedHdrSize + readReqSize]byte
	putUntagged(h[:], opReadReq, true, qnReadReq, 1, 0)
	f := appendFPDU(nil, h[:], nil)
	f[len(f)-1] ^= 1
	junk.Write(f)
	junkQP := <-accepted
	waitDone(t, junkQP)
	if !errors.Is(junkQP.Err(), errFraming) {
		t.Fatalf("junk QP error %v", junkQP.Err())
	}
	// Oversize / garbage lengths: a huge ULPDU_Length with an unknown opcode.
	junk2 := raw()
	junk2.Write(appendMPA(nil, false, false, nil))
	if _, err := readMPA(junk2, true); err != nil {
		t.Fatal(err)
	}
	junk2.Write([]byte{0xff, 0xff, 0x01, 0x4e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	junkQP2 := <-accepted
	waitDone(t, junkQP2)
	if !errors.Is(junkQP2.Err(), errFraming) {
		t.Fatalf("junk QP error %v", junkQP2.Err())
	}

	// A well-behaved client still works.
	c, err := New().Dial(ctx, ln.Addr(), verbs.QPConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	tgt, _ := region(t, s.PD(), 4096, rw)
	src, _ := region(t, c.PD(), 4096, verbs.AccessLocalWrite)
	mustPost(t, c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 4096), RKey: tgt.RKey(), Remote: tgt.Addr()})
	mustPost(t, c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 4096), RKey: tgt.RKey(), Remote: tgt.Addr()})
	wantStatuses(t, waitN(t, c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
	ln.Close()
	for range accepted {
	}
}

func TestCloseFlushes(t *testing.T) {
	for _, closer := range []string{"local", "peer"} {
		t.Run(closer, func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{SendDepth: 32}, verbs.QPConfig{}, nil)
			tgt, _ := region(t, p.s.PD(), 1<<20, rw)
			src, _ := region(t, p.c.PD(), 1<<20, verbs.AccessLocalWrite)
			const nrecv, nsend = 8, 32
			for i := range nrecv {
				if err := p.c.PostRecv(verbs.RecvWR{ID: uint64(i), Local: verbs.SGEOf(src, 0, 16)}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range nsend {
				mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 1<<20), RKey: tgt.RKey(), Remote: tgt.Addr()})
			}
			if closer == "local" {
				p.c.Close()
			} else {
				p.s.Close()
			}
			waitDone(t, p.c)
			wcs := waitN(t, p.c.SendCQ(), nsend)
			flushed := false
			for i, wc := range wcs {
				if wc.ID != uint64(i) {
					t.Fatalf("completion %d has ID %d", i, wc.ID)
				}
				if flushed && wc.Status != verbs.StatusFlushed {
					t.Fatalf("completion %d %v after a flush", i, wc.Status)
				}
				flushed = wc.Status == verbs.StatusFlushed
			}
			st := make([]verbs.Status, nrecv)
			for i := range st {
				st[i] = verbs.StatusFlushed
			}
			wantStatuses(t, waitN(t, p.c.RecvCQ(), nrecv), st...)
			for _, cq := range []verbs.CQ{p.c.SendCQ(), p.c.RecvCQ()} {
				if _, err := cq.Wait(testCtx(t), make([]verbs.WC, 1)); !isClosed(err) {
					t.Fatalf("wait after close: %v", err)
				}
			}
			if err := p.c.PostRecv(verbs.RecvWR{Local: verbs.SGEOf(src, 0, 16)}); !isClosed(err) {
				t.Fatalf("post after close: %v", err)
			}
		})
	}
}

// The MPA responder sends nothing before the initiator's first FPDU, so
// its send queue fills deterministically (with MPA revision 1: in
// revision 2 the initiator's RTR is sent at once).
func TestQueueFull(t *testing.T) {
	p := newPairWith(t, provider{rev1: true}, provider{}, verbs.QPConfig{}, verbs.QPConfig{SendDepth: 2, RecvDepth: 1}, nil)
	mr, _ := region(t, p.s.PD(), 64, verbs.AccessLocalWrite)
	for i := range 2 {
		mustPost(t, p.s, verbs.SendWR{ID: uint64(i), Op: verbs.OpSend, Local: verbs.SGEOf(mr, 0, 1)})
	}
	if err := p.s.PostSend(verbs.SendWR{Op: verbs.OpSend, Local: verbs.SGEOf(mr, 0, 1)}); !errors.Is(err, verbs.ErrQueueFull) {
		t.Fatalf("post beyond SendDepth: %v", err)
	}
	if err := p.s.PostRecv(verbs.RecvWR{Local: verbs.SGEOf(mr, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := p.s.PostRecv(verbs.RecvWR{Local: verbs.SGEOf(mr, 0, 1)}); !errors.Is(err, verbs.ErrQueueFull) {
		t.Fatalf("post beyond RecvDepth: %v", err)
	}
}

func TestPostValidation(t *testing.T) {
	p := newPair(t, verbs.QPConfig{MaxReadSize: 4096}, verbs.QPConfig{}, nil)
	mine, _ := region(t, p.c.PD(), 8192, 0)
	theirs, _ := region(t, p.s.PD(), 8192, rw)
	tests := []struct {
		name string
		wr   verbs.SendWR
	}{
		{"bad-op", verbs.SendWR{Op: verbs.OpRecv, Local: verbs.SGEOf(mine, 0, 1)}},
		{"lkey-other-pd", verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(theirs, 0, 1)}},
		{"local-range", verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(mine, 8000, 1000)}},
		{"read-sink-not-writable", verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(mine, 0, 10)}},
		{"read-too-big", verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(mine, 0, 8192)}},
	}
	for _, tc := range tests {
		if err := p.c.PostSend(tc.wr); !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if err := p.c.PostRecv(verbs.RecvWR{Local: verbs.SGEOf(mine, 0, 1)}); !errors.Is(err, verbs.ErrInvalid) {
		t.Errorf("recv into non-writable region: %v", err)
	}
	if err := mine.Deregister(); err != nil {
		t.Fatal(err)
	}
	if err := mine.Deregister(); !isClosed(err) {
		t.Fatalf("double deregister: %v", err)
	}
}

func TestSTagsDistinct(t *testing.T) {
	pd := newPD()
	seen := map[uint32]bool{}
	for range 1000 {
		mr, err := pd.Register(make([]byte, 1), 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[mr.RKey()] || mr.RKey() == 0 || mr.LKey() != mr.RKey() {
			t.Fatalf("stag %#x reused or zero", mr.RKey())
		}
		seen[mr.RKey()] = true
		mr.Deregister()
	}
}

// Deregister racing RDMA Reads served from the region, multi-batch ones
// and small ones sent from the cork: once it returns, no byte of the
// region is sent (every batch of a Read Response revalidates the source;
// the cork holds the region's read lock until it is written), and a Read cut short completes with
// StatusRemoteAccess, never with success and partial data.
func TestReadRevocationRace(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{
		{"batches", 3*fpduBatch*maxSegPayload + 1000}, // four batches, the last one short
		{"corked", corkMax},                           // one FPDU, sent from the cork
	} {
		t.Run(tc.name, func(t *testing.T) { readRevocationRace(t, tc.size) })
	}
}

func readRevocationRace(t *testing.T, size int) {
	for round := range 2 {
		p := newPair(t, verbs.QPConfig{SendDepth: 4, MaxReadSize: size}, verbs.QPConfig{}, nil)
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = 0xAA
		}
		src, err := p.s.PD().Register(buf, verbs.AccessRemoteRead)
		if err != nil {
			t.Fatal(err)
		}
		sinks := make([][]byte, 2)
		sinkMRs := make([]verbs.MR, 2)
		for i := range sinks {
			sinkMRs[i], sinks[i] = region(t, p.c.PD(), size, verbs.AccessLocalWrite)
		}
		started := make(chan struct{})
		type result struct {
			bad  string
			okN  int
			fail verbs.Status
		}
		res := make(chan result, 1)
		go func() {
			started := started
			var r result
			defer func() { res <- r }()
			wcs := make([]verbs.WC, 1)
			for id := uint64(0); ; id++ {
				s := id % 2
				clear(sinks[s])
				if err := p.c.PostSend(verbs.SendWR{ID: id, Op: verbs.OpRead, Local: verbs.SGEOf(sinkMRs[s], 0, size), RKey: src.RKey(), Remote: src.Addr()}); err != nil {
					return
				}
				if _, err := p.c.SendCQ().Wait(context.Background(), wcs); err != nil {
					return
				}
				if wcs[0].Status != verbs.StatusSuccess {
					r.fail = wcs[0].Status
					return
				}
				r.okN++
				for i, b := range sinks[s] {
					if b != 0xAA {
						r.bad = fmt.Sprintf("read %d: byte %d = %#x", id, i, b)
						return
					}
				}
				if r.okN == 2*(round+1) && started != nil {
					close(started)
					started = nil
				}
			}
		}()
		select {
		case <-started:
		case r := <-res:
			t.Fatalf("reads ended early: %+v", r)
		}
		if err := src.Deregister(); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 0xBB // races with any transmission still to come
		}
		r := <-res
		if r.bad != "" {
			t.Fatalf("round %d: %s: memory sent after Deregister returned", round, r.bad)
		}
		if r.fail != verbs.StatusRemoteAccess {
			t.Fatalf("round %d: the Read after Deregister completed with %v, want %v", round, r.fail, verbs.StatusRemoteAccess)
		}
		waitDone(t, p.s)
		if !errors.Is(p.s.Err(), verbs.ErrRemoteAccess) {
			t.Fatalf("server error %v", p.s.Err())
		}
	}
}
