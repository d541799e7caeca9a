package verbstest

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// need skips the test unless both ends of a fresh connection offer the
// feature, and returns that connection.
func (s *suite) need(t *testing.T, what string, has func(verbs.Caps) bool, prepare func(verbs.QP) error) (*env, *pair) {
	t.Helper()
	e := s.env(t)
	p := e.connect(verbs.QPConfig{SendDepth: 8}, verbs.QPConfig{RecvDepth: 8}, prepare)
	hc, hs := has(p.c.Caps()), has(p.s.Caps())
	switch {
	case hc != hs && s.p == s.dial:
		t.Fatalf("%s offered by one end only (initiator %v, target %v)", what, hc, hs)
	case hc != hs:
		t.Skipf("only one provider offers %s (initiator %v, target %v)", what, hc, hs)
	case !hc:
		t.Skipf("the provider does not offer %s", what)
	}
	return e, p
}

func hasMW(c verbs.Caps) bool     { return c.MemoryWindows }
func hasAtomic(c verbs.Caps) bool { return c.AtomicWrite }
func hasFlush(c verbs.Caps) bool  { return c.Flush }

// Memory windows: a window reaches exactly its range of the region with at
// most the region's rights, and Invalidate revokes it.
func (s *suite) testMemoryWindows(t *testing.T) {
	t.Run("bind-write-read-invalidate", func(t *testing.T) {
		e, p := s.need(t, "memory windows", hasMW, nil)
		mr := e.region(p.s.PD(), 64<<10, rw|verbs.AccessMWBind)
		mw, err := p.s.BindMW(mr.mr, 4096, 8192, verbs.AccessRemoteWrite|verbs.AccessRemoteRead)
		if err != nil {
			t.Fatalf("bind: %v", err)
		}
		if mw.Len() != 8192 || mw.Addr() != mr.mr.Addr()+4096 {
			t.Fatalf("window [%#x, +%d), want [%#x, +8192)", mw.Addr(), mw.Len(), mr.mr.Addr()+4096)
		}
		if mw.RKey() == mr.mr.RKey() {
			t.Fatal("window shares the region's key")
		}
		src := e.region(p.c.PD(), 8192, verbs.AccessLocalWrite)
		sink := e.region(p.c.PD(), 8192, verbs.AccessLocalWrite)
		fill(src.buf, 9)
		e.post(p.c,
			verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: src.sge(0, 8192), RKey: mw.RKey(), Remote: mw.Addr()},
			verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: sink.sge(0, 8192), RKey: mw.RKey(), Remote: mw.Addr()})
		e.want(e.waitN(p.c.SendCQ(), 2), seq(2), verbs.StatusSuccess, verbs.StatusSuccess)
		if !bytes.Equal(sink.buf, src.buf) || !bytes.Equal(mr.buf[4096:4096+8192], src.buf) {
			t.Fatal("data through the window differs")
		}
		if err := mw.Invalidate(); err != nil {
			t.Fatalf("invalidate: %v", err)
		}
		e.post(p.c, verbs.SendWR{ID: 2, Op: verbs.OpWrite, Local: src.sge(0, 1), RKey: mw.RKey(), Remote: mw.Addr()})
		e.want(e.waitN(p.c.SendCQ(), 1), []uint64{2}, verbs.StatusRemoteAccess)
	})
	// A Write the window does not allow fails remotely, even where the
	// region would allow it.
	for _, tc := range []struct {
		name        string
		off, length int
		access      verbs.Access
		write       int
	}{
		{"outside-window", 4096, 4096, verbs.AccessRemoteWrite, 4097}, // one byte past the window, inside the region
		{"window-rights", 0, 4096, verbs.AccessRemoteRead, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, p := s.need(t, "memory windows", hasMW, nil)
			mr := e.region(p.s.PD(), 64<<10, rw|verbs.AccessMWBind)
			mw, err := p.s.BindMW(mr.mr, tc.off, tc.length, tc.access)
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			src := e.region(p.c.PD(), 8192, verbs.AccessLocalWrite)
			e.post(p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: src.sge(0, tc.write), RKey: mw.RKey(), Remote: mw.Addr()})
			e.want(e.waitN(p.c.SendCQ(), 1), []uint64{0}, verbs.StatusRemoteAccess)
		})
	}
	t.Run("bind-refused", func(t *testing.T) {
		e, p := s.need(t, "memory windows", hasMW, nil)
		nobind := e.region(p.s.PD(), 8192, rw)
		if _, err := p.s.BindMW(nobind.mr, 0, 4096, verbs.AccessRemoteRead); err == nil {
			t.Fatal("bound a window on a region without AccessMWBind")
		}
		ro := e.region(p.s.PD(), 8192, verbs.AccessRemoteRead|verbs.AccessMWBind)
		if _, err := p.s.BindMW(ro.mr, 0, 4096, verbs.AccessRemoteWrite); err == nil {
			t.Fatal("bound a writable window on a read-only region")
		}
		mr := e.region(p.s.PD(), 8192, rw|verbs.AccessMWBind)
		if _, err := p.s.BindMW(mr.mr, 4096, 8192, verbs.AccessRemoteRead); err == nil {
			t.Fatal("bound a window past the end of its region")
		}
	})
}

// Send with Invalidate revokes the named window at the receiver before the
// message is delivered, and says so in the receive completion.
func (s *suite) testSendInvalidate(t *testing.T) {
	var recv *region
	var ev *env
	prepare := func(q verbs.QP) error {
		recv = ev.region(q.PD(), 64, verbs.AccessLocalWrite)
		return q.PostRecv(verbs.RecvWR{ID: 1, Local: recv.sge(0, 64)})
	}
	e := s.env(t)
	ev = e
	p := e.connect(verbs.QPConfig{SendDepth: 8}, verbs.QPConfig{RecvDepth: 8}, prepare)
	if !p.c.Caps().MemoryWindows || !p.s.Caps().MemoryWindows {
		t.Skip("the provider does not offer memory windows")
	}
	mr := e.region(p.s.PD(), 8192, rw|verbs.AccessMWBind)
	mw, err := p.s.BindMW(mr.mr, 0, 4096, verbs.AccessRemoteWrite|verbs.AccessRemoteRead)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	src := e.region(p.c.PD(), 64, verbs.AccessLocalWrite)
	copy(src.buf, "unmap")
	e.post(p.c,
		verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: src.sge(0, 8), RKey: mw.RKey(), Remote: mw.Addr()},
		verbs.SendWR{ID: 1, Op: verbs.OpSendInv, Local: src.sge(0, 5), InvalidateRKey: mw.RKey()})
	e.want(e.waitN(p.c.SendCQ(), 2), seq(2), verbs.StatusSuccess, verbs.StatusSuccess)
	wc := e.waitN(p.s.RecvCQ(), 1)[0]
	if wc.ID != 1 || wc.Status != verbs.StatusSuccess || wc.ByteLen != 5 || wc.Invalidated != mw.RKey() {
		t.Fatalf("receive completed as %+v, want 5 bytes invalidating %#x", wc, mw.RKey())
	}
	if err := mw.Invalidate(); err != nil {
		t.Fatalf("invalidating a window the peer invalidated: %v", err)
	}
	e.post(p.c, verbs.SendWR{ID: 2, Op: verbs.OpRead, Local: src.sge(0, 8), RKey: mw.RKey(), Remote: mw.Addr()})
	e.want(e.waitN(p.c.SendCQ(), 1), []uint64{2}, verbs.StatusRemoteAccess)
}

func (s *suite) testAtomicWrite(t *testing.T) {
	t.Run("aligned", func(t *testing.T) {
		e, p := s.need(t, "ATOMIC WRITE", hasAtomic, nil)
		tgt := e.region(p.s.PD(), 4096, rw|verbs.AccessRemoteAtomic)
		src := e.region(p.c.PD(), 4096, verbs.AccessLocalWrite)
		var ids []uint64
		for i := range 4 {
			binary.LittleEndian.PutUint64(src.buf[i*8:], 0x0123456789abcdef^uint64(i))
			k, a := tgt.remote(64 * i)
			e.post(p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpAtomicWrite, Local: src.sge(i*8, 8), RKey: k, Remote: a})
			ids = append(ids, uint64(i))
		}
		e.post(p.c, read(4, src, 1024, 256, tgt, 0))
		e.want(e.waitN(p.c.SendCQ(), 5), seq(5), repeat(verbs.StatusSuccess, 5)...)
		for i := range 4 {
			if !bytes.Equal(tgt.buf[64*i:64*i+8], src.buf[i*8:i*8+8]) || !bytes.Equal(src.buf[1024+64*i:1024+64*i+8], src.buf[i*8:i*8+8]) {
				t.Fatalf("atomic write %d did not land", i)
			}
		}
	})
	t.Run("no-atomic-right", func(t *testing.T) {
		e, p := s.need(t, "ATOMIC WRITE", hasAtomic, nil)
		tgt := e.region(p.s.PD(), 4096, rw)
		src := e.region(p.c.PD(), 8, 0)
		k, a := tgt.remote(0)
		e.post(p.c, verbs.SendWR{ID: 0, Op: verbs.OpAtomicWrite, Local: src.sge(0, 8), RKey: k, Remote: a})
		e.want(e.waitN(p.c.SendCQ(), 1), []uint64{0}, verbs.StatusRemoteAccess)
	})
}

// flushHooks records the FLUSH ranges the provider reports.
type flushHooks struct {
	mu     sync.Mutex
	ranges [][2]int // guarded by mu
}

func (h *flushHooks) Placed(int, int) {}
func (h *flushHooks) ReadServed()     {}
func (h *flushHooks) Flush(off, n int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ranges = append(h.ranges, [2]int{off, n})
	return nil
}

func (s *suite) testFlush(t *testing.T) {
	t.Run("persistent-range", func(t *testing.T) {
		e, p := s.need(t, "FLUSH", hasFlush, nil)
		hooks := &flushHooks{}
		tgt := e.regionWith(p.s.PD(), 64<<10, rw|verbs.AccessFlushPersistent, verbs.RegisterOptions{Hooks: hooks})
		src := e.region(p.c.PD(), 64<<10, verbs.AccessLocalWrite)
		fill(src.buf, 3)
		k, a := tgt.remote(4096)
		e.post(p.c,
			write(0, src, 0, 8192, tgt, 4096),
			verbs.SendWR{ID: 1, Op: verbs.OpFlush, Local: verbs.SGE{Length: 8192}, RKey: k, Remote: a})
		e.want(e.waitN(p.c.SendCQ(), 2), seq(2), verbs.StatusSuccess, verbs.StatusSuccess)
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		// A provider may flush more than asked, never less.
		covered := make([]bool, 8192)
		for _, r := range hooks.ranges {
			for i := max(r[0], 4096); i < min(r[0]+r[1], 4096+8192); i++ {
				covered[i-4096] = true
			}
		}
		if len(hooks.ranges) > 0 && bytes.IndexByte(boolBytes(covered), 0) >= 0 {
			t.Fatalf("flush hook saw %v, which does not cover [4096, 12288)", hooks.ranges)
		}
	})
	t.Run("no-flush-right", func(t *testing.T) {
		e, p := s.need(t, "FLUSH", hasFlush, nil)
		tgt := e.region(p.s.PD(), 4096, rw)
		k, a := tgt.remote(0)
		e.post(p.c, verbs.SendWR{ID: 0, Op: verbs.OpFlush, Local: verbs.SGE{Length: 4096}, RKey: k, Remote: a})
		e.want(e.waitN(p.c.SendCQ(), 1), []uint64{0}, verbs.StatusRemoteAccess)
	})
	t.Run("out-of-range", func(t *testing.T) {
		e, p := s.need(t, "FLUSH", hasFlush, nil)
		tgt := e.region(p.s.PD(), 4096, rw|verbs.AccessFlushPersistent)
		k, a := tgt.remote(4000)
		e.post(p.c, verbs.SendWR{ID: 0, Op: verbs.OpFlush, Local: verbs.SGE{Length: 97}, RKey: k, Remote: a})
		e.want(e.waitN(p.c.SendCQ(), 1), []uint64{0}, verbs.StatusRemoteAccess)
	})
}

func boolBytes(b []bool) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		if v {
			out[i] = 1
		}
	}
	return out
}
