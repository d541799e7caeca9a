package soft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// recHooks records the data-path hook calls on a region.
type recHooks struct {
	mu       sync.Mutex
	ev       []string
	flushErr error
}

func (h *recHooks) add(s string) {
	h.mu.Lock()
	h.ev = append(h.ev, s)
	h.mu.Unlock()
}
func (h *recHooks) Placed(off, n int) { h.add(fmt.Sprintf("placed %d+%d", off, n)) }
func (h *recHooks) ReadServed()       { h.add("read") }
func (h *recHooks) Flush(off, n int) error {
	h.add(fmt.Sprintf("flush %d+%d", off, n))
	return h.flushErr
}
func (h *recHooks) events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ev...)
}

// placements are the events but ReadServed, which completion fences
// (zero-length Reads the initiator sends when its queue runs dry) add at
// times the test does not control.
func (h *recHooks) placements() []string {
	var out []string
	for _, e := range h.events() {
		if e != "read" {
			out = append(out, e)
		}
	}
	return out
}

// reads counts ReadServed calls.
func (h *recHooks) reads() int { return len(h.events()) - len(h.placements()) }

func TestNegotiation(t *testing.T) {
	all := verbs.Caps{MemoryWindows: true, AtomicWrite: true, Flush: true}
	mwOnly := verbs.Caps{MemoryWindows: true}
	tests := []struct {
		name         string
		dial, listen provider
		want         verbs.Caps
		rev          uint8
	}{
		{"both-rev2", provider{}, provider{}, all, mpaRev2},
		{"dialer-rev1", provider{rev1: true}, provider{}, mwOnly, mpaRev1},
		{"listener-rev1", provider{}, provider{rev1: true}, mwOnly, mpaRev1},
		{"both-rev1", provider{rev1: true}, provider{rev1: true}, mwOnly, mpaRev1},
		{"listener-no-flush", provider{}, provider{noExt: extFlush}, verbs.Caps{MemoryWindows: true, AtomicWrite: true}, mpaRev2},
		{"dialer-no-ext", provider{noExt: extAll}, provider{}, mwOnly, mpaRev2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPairWith(t, tc.dial, tc.listen, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			if p.c.Caps() != tc.want || p.s.Caps() != tc.want {
				t.Fatalf("caps client %+v server %+v, want %+v", p.c.Caps(), p.s.Caps(), tc.want)
			}
			if rev2 := p.c.peerIRD > 0; rev2 != (tc.rev == mpaRev2) {
				t.Fatalf("peer IRD %d with revision %d", p.c.peerIRD, tc.rev)
			}
			tgt, _ := region(t, p.s.PD(), 4096, rw|verbs.AccessRemoteAtomic|verbs.AccessFlushPersistent)
			src, _ := region(t, p.c.PD(), 4096, verbs.AccessLocalWrite)
			mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 100), RKey: tgt.RKey(), Remote: tgt.Addr()})
			mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 100), RKey: tgt.RKey(), Remote: tgt.Addr()})
			wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
			aw := verbs.SendWR{Op: verbs.OpAtomicWrite, Local: verbs.SGEOf(src, 0, 8), RKey: tgt.RKey(), Remote: tgt.Addr()}
			if err := p.c.PostSend(aw); !tc.want.AtomicWrite && !errors.Is(err, verbs.ErrNotSupported) {
				t.Fatalf("ATOMIC WRITE without negotiation: %v", err)
			}
			fl := verbs.SendWR{Op: verbs.OpFlush, Local: verbs.SGE{Length: 8}, RKey: tgt.RKey(), Remote: tgt.Addr()}
			if err := p.c.PostSend(fl); !tc.want.Flush && !errors.Is(err, verbs.ErrNotSupported) {
				t.Fatalf("FLUSH without negotiation: %v", err)
			}
		})
	}
}

// A peer that sends an extension opcode it did not negotiate is terminated.
func TestExtensionOpcodeNotNegotiated(t *testing.T) {
	p := newPairWith(t, provider{}, provider{noExt: extAll}, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	tgt, _ := region(t, p.s.PD(), 4096, rw|verbs.AccessRemoteAtomic)
	src, _ := region(t, p.c.PD(), 4096, verbs.AccessLocalWrite)
	p.c.caps.AtomicWrite = true // pretend, to get the opcode on the wire
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpAtomicWrite, Local: verbs.SGEOf(src, 0, 8), RKey: tgt.RKey(), Remote: tgt.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 1), verbs.StatusRemoteOp)
	waitDone(t, p.s)
	if !errors.Is(p.s.Err(), errFraming) {
		t.Fatalf("server error %v", p.s.Err())
	}
}

func TestBindMWErrors(t *testing.T) {
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	const bindable = rw | verbs.AccessMWBind
	mr, _ := region(t, p.s.PD(), 8192, bindable)
	plain, _ := region(t, p.s.PD(), 8192, rw)
	readOnly, _ := region(t, p.s.PD(), 8192, verbs.AccessRemoteRead|verbs.AccessMWBind)
	theirs, _ := region(t, p.c.PD(), 8192, bindable)
	dead, err := p.s.PD().Register(make([]byte, 64), bindable)
	if err != nil {
		t.Fatal(err)
	}
	dead.Deregister()
	tests := []struct {
		name        string
		mr          verbs.MR
		off, length int
		access      verbs.Access
		want        error
	}{
		{"no-bind-right", plain, 0, 10, verbs.AccessRemoteRead, verbs.ErrInvalid},
		{"beyond-region", mr, 8000, 200, verbs.AccessRemoteRead, verbs.ErrInvalid},
		{"negative-offset", mr, -1, 10, verbs.AccessRemoteRead, verbs.ErrInvalid},
		{"empty", mr, 0, 0, verbs.AccessRemoteRead, verbs.ErrInvalid},
		{"write-window-needs-local-write", readOnly, 0, 10, verbs.AccessRemoteWrite, verbs.ErrInvalid},
		{"atomic-window-needs-local-write", readOnly, 0, 10, verbs.AccessRemoteAtomic, verbs.ErrInvalid},
		{"flush-right-not-in-region", mr, 0, 10, verbs.AccessFlushPersistent, verbs.ErrInvalid},
		{"local-right", mr, 0, 10, verbs.AccessLocalWrite, verbs.ErrInvalid},
		{"stable-write-window", mr, 0, 10, verbs.AccessRemoteWrite | verbs.AccessStable, verbs.ErrInvalid},
		{"stable-atomic-window", mr, 0, 10, verbs.AccessRemoteAtomic | verbs.AccessStable, verbs.ErrInvalid},
		{"region-of-other-pd", theirs, 0, 10, verbs.AccessRemoteRead, verbs.ErrInvalid},
		{"deregistered-region", dead, 0, 10, verbs.AccessRemoteRead, verbs.ErrClosed},
	}
	for _, tc := range tests {
		if _, err := p.s.BindMW(tc.mr, tc.off, tc.length, tc.access); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := p.s.BindMW(mr, 0, 10, verbs.AccessRemoteRead|verbs.AccessStable); err != nil {
		t.Errorf("a stable read-only window: %v", err)
	}
	for _, a := range []verbs.Access{verbs.AccessStable | verbs.AccessLocalWrite, verbs.AccessStable | verbs.AccessRemoteWrite | verbs.AccessLocalWrite} {
		if _, err := p.s.PD().Register(make([]byte, 64), a); !errors.Is(err, verbs.ErrInvalid) {
			t.Errorf("a writable region with AccessStable (%#x): %v, want ErrInvalid", a, err)
		}
	}
	w, err := p.s.BindMW(mr, 4096, 4096, verbs.AccessRemoteRead)
	if err != nil {
		t.Fatal(err)
	}
	if w.Addr() != mr.Addr()+4096 || w.Len() != 4096 || w.RKey() == mr.RKey() || w.RKey() == 0 {
		t.Fatalf("window %v over %v", w, mr)
	}
	// A window is no local key.
	if err := p.s.PostSend(verbs.SendWR{Op: verbs.OpSend, Local: verbs.SGE{Addr: w.Addr(), Length: 1, LKey: w.RKey()}}); !errors.Is(err, verbs.ErrInvalid) {
		t.Fatalf("window as lkey: %v", err)
	}
	if err := w.Invalidate(); err != nil {
		t.Fatal(err)
	}
	if err := w.Invalidate(); err != nil {
		t.Fatalf("second invalidate: %v", err)
	}
}

// Accesses through memory windows, and their faults: the faulting request
// completes with StatusRemoteAccess, the rest are flushed.
func TestMemoryWindowAccess(t *testing.T) {
	type setup struct {
		p      *pair
		mr     verbs.MR
		buf    []byte
		w, ro  verbs.MW
		src    verbs.MR
		others *pair
	}
	tests := []struct {
		name  string
		wr    func(s *setup) verbs.SendWR
		fault bool
	}{
		{"write-read-in-window", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 4096), RKey: s.w.RKey(), Remote: s.w.Addr()}
		}, false},
		{"read-only-window-read", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 4096), RKey: s.ro.RKey(), Remote: s.ro.Addr()}
		}, false},
		{"write-beyond-window", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 100), RKey: s.w.RKey(), Remote: s.w.Addr() + uint64(s.w.Len()) - 50}
		}, true},
		{"read-below-window", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.w.RKey(), Remote: s.w.Addr() - 1}
		}, true},
		{"write-read-only-window", func(s *setup) verbs.SendWR {
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.ro.RKey(), Remote: s.ro.Addr()}
		}, true},
		{"write-after-invalidate", func(s *setup) verbs.SendWR {
			if err := s.w.Invalidate(); err != nil {
				panic(err)
			}
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.w.RKey(), Remote: s.w.Addr()}
		}, true},
		{"write-after-region-deregister", func(s *setup) verbs.SendWR {
			if err := s.mr.Deregister(); err != nil {
				panic(err)
			}
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: s.w.RKey(), Remote: s.w.Addr()}
		}, true},
		{"window-of-other-qp", func(s *setup) verbs.SendWR {
			mr, _ := region(t, s.others.s.PD(), 4096, rw|verbs.AccessMWBind)
			w, err := s.others.s.BindMW(mr, 0, 4096, verbs.AccessRemoteWrite)
			if err != nil {
				panic(err)
			}
			return verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 10), RKey: w.RKey(), Remote: w.Addr()}
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &setup{p: newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)}
			s.others = newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			s.mr, s.buf = region(t, s.p.s.PD(), 3*4096, rw|verbs.AccessMWBind)
			var err error
			if s.w, err = s.p.s.BindMW(s.mr, 4096, 4096, verbs.AccessRemoteWrite|verbs.AccessRemoteRead); err != nil {
				t.Fatal(err)
			}
			if s.ro, err = s.p.s.BindMW(s.mr, 0, 4096, verbs.AccessRemoteRead); err != nil {
				t.Fatal(err)
			}
			var sb []byte
			s.src, sb = region(t, s.p.c.PD(), 4096, verbs.AccessLocalWrite)
			fill(sb, 7)
			want := append([]byte(nil), sb...)
			c := s.p.c
			good, _ := region(t, s.p.s.PD(), 64, rw)
			ok := verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(s.src, 0, 8), RKey: good.RKey(), Remote: good.Addr()}
			bad := tc.wr(s)
			bad.ID = 1
			ok0, ok2 := ok, ok
			ok0.ID, ok2.ID = 0, 2
			n := postAll(t, c, ok0, bad, ok2)
			wcs := waitN(t, c.SendCQ(), n)
			if !tc.fault {
				wantStatuses(t, wcs, verbs.StatusSuccess, verbs.StatusSuccess, verbs.StatusSuccess)
				if bad.Op == verbs.OpWrite {
					syncMW(s.w)
					for i, b := range s.buf[4096 : 2*4096] {
						if b != want[i] {
							t.Fatalf("byte %d of the window is %d, want %d", i, b, want[i])
						}
					}
				}
				return
			}
			wantStatuses(t, wcs, []verbs.Status{verbs.StatusSuccess, verbs.StatusRemoteAccess, verbs.StatusFlushed}[:n]...)
			waitDone(t, s.p.s)
			if !errors.Is(s.p.s.Err(), verbs.ErrRemoteAccess) {
				t.Fatalf("server error %v", s.p.s.Err())
			}
		})
	}
}

// Invalidate racing a storm of Writes through the window: once it
// returns, no byte lands.
func TestWindowRevocationRace(t *testing.T) {
	for round := range 2 {
		p := newPair(t, verbs.QPConfig{SendDepth: 16}, verbs.QPConfig{}, nil)
		const size = 128 << 10
		mr, buf := region(t, p.s.PD(), 2*size, verbs.AccessLocalWrite|verbs.AccessMWBind)
		w, err := p.s.BindMW(mr, size, size, verbs.AccessRemoteWrite)
		if err != nil {
			t.Fatal(err)
		}
		src, sb := region(t, p.c.PD(), size, 0)
		for i := range sb {
			sb[i] = 0xAA
		}
		stormDone := writeStorm(testCtx(t), p.c, src, w, size, 16*(round+1))
		if err := w.Invalidate(); err != nil {
			t.Fatal(err)
		}
		clear(buf)
		<-stormDone
		waitDone(t, p.s)
		for i, b := range buf {
			if b != 0 {
				t.Fatalf("round %d: byte %d written after Invalidate returned", round, i)
			}
		}
	}
}

func TestSendWithInvalidate(t *testing.T) {
	tests := []struct {
		name    string
		key     func(w verbs.MW, mr, other verbs.MR) uint32
		wantSnd verbs.Status // at the sender
	}{
		{"window", func(w verbs.MW, _, _ verbs.MR) uint32 { return w.RKey() }, verbs.StatusSuccess},
		{"region", func(_ verbs.MW, mr, _ verbs.MR) uint32 { return mr.RKey() }, verbs.StatusSuccess},
		{"bad-stag", func(verbs.MW, verbs.MR, verbs.MR) uint32 { return 0xdeadbe00 }, verbs.StatusRemoteOp},
		{"stag-of-other-pd", func(_ verbs.MW, _, other verbs.MR) uint32 { return other.RKey() }, verbs.StatusRemoteAccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recv verbs.MR
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, func(q verbs.QP) error {
				recv, _ = region(t, q.PD(), 64, verbs.AccessLocalWrite)
				return q.PostRecv(verbs.RecvWR{ID: 9, Local: verbs.SGEOf(recv, 0, 64)})
			})
			mr, _ := region(t, p.s.PD(), 4096, rw|verbs.AccessMWBind)
			w, err := p.s.BindMW(mr, 0, 4096, verbs.AccessRemoteWrite)
			if err != nil {
				t.Fatal(err)
			}
			other, _ := region(t, newPD(), 64, rw)
			src, _ := region(t, p.c.PD(), 64, verbs.AccessLocalWrite)
			key := tc.key(w, mr, other)
			mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpSendInv, Local: verbs.SGEOf(src, 0, 5), InvalidateRKey: key})
			rwc := waitN(t, p.s.RecvCQ(), 1)[0]
			if tc.wantSnd != verbs.StatusSuccess {
				if rwc.Status != verbs.StatusRemoteInvalidRequest {
					t.Fatalf("receive completion %+v", rwc)
				}
				wantStatuses(t, waitN(t, p.c.SendCQ(), 1), tc.wantSnd)
				waitDone(t, p.c)
				return
			}
			if rwc.Status != verbs.StatusSuccess || rwc.Invalidated != key || rwc.ByteLen != 5 {
				t.Fatalf("receive completion %+v, want invalidated %#x", rwc, key)
			}
			// The key is dead: a Write with it is a remote access error.
			mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 5), RKey: key, Remote: mr.Addr()})
			wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusRemoteAccess)
			if err := w.Invalidate(); err != nil {
				t.Fatalf("invalidating a window the peer invalidated: %v", err)
			}
			if err := mr.Deregister(); err != nil {
				t.Fatalf("deregistering a region (or the region of a window) the peer invalidated: %v", err)
			}
		})
	}
}

func TestAtomicWrite(t *testing.T) {
	tests := []struct {
		name   string
		off    int
		access verbs.Access
		want   verbs.Status
	}{
		{"aligned", 16, rw | verbs.AccessRemoteAtomic, verbs.StatusSuccess},
		{"unaligned", 12, rw | verbs.AccessRemoteAtomic, verbs.StatusRemoteAccess},
		{"no-atomic-right", 16, rw, verbs.StatusRemoteAccess},
		{"out-of-range", 4096 - 4, rw | verbs.AccessRemoteAtomic, verbs.StatusRemoteAccess},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			hooks := &recHooks{}
			buf, err := verbs.AllocMemory(4096) // page aligned, so offsets decide alignment
			if err != nil {
				t.Fatal(err)
			}
			defer verbs.FreeMemory(buf)
			tgt, err := p.s.PD().RegisterWith(buf, tc.access, verbs.RegisterOptions{Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Deregister()
			src, sb := region(t, p.c.PD(), 64, verbs.AccessLocalWrite)
			binary.NativeEndian.PutUint64(sb, 0x0123456789abcdef)
			if err := p.c.PostSend(verbs.SendWR{Op: verbs.OpAtomicWrite, Local: verbs.SGEOf(src, 0, 4), RKey: tgt.RKey(), Remote: tgt.Addr()}); !errors.Is(err, verbs.ErrInvalid) {
				t.Fatalf("4-byte ATOMIC WRITE: %v", err)
			}
			mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpAtomicWrite, Local: verbs.SGEOf(src, 0, 8), RKey: tgt.RKey(), Remote: tgt.Addr() + uint64(tc.off)})
			wantStatuses(t, waitN(t, p.c.SendCQ(), 1), tc.want)
			if tc.want != verbs.StatusSuccess {
				waitDone(t, p.s)
				return
			}
			syncMR(tgt)
			if got := binary.NativeEndian.Uint64(buf[tc.off:]); got != 0x0123456789abcdef {
				t.Fatalf("placed %#x", got)
			}
			if ev := hooks.placements(); fmt.Sprint(ev) != fmt.Sprintf("[placed %d+8]", tc.off) {
				t.Fatalf("hook events %q", ev)
			}
		})
	}
}

// FLUSH calls the region's Flush hook in stream order (after the Write
// before it was placed) with offsets in the registered buffer, windows
// included, and completes when the target answers.
func TestFlush(t *testing.T) {
	tests := []struct {
		name     string
		access   verbs.Access
		window   bool
		flushErr error
		want     verbs.Status
		wantEv   []string
	}{
		{"region", rw | verbs.AccessFlushPersistent, false, nil, verbs.StatusSuccess,
			[]string{"placed 100+50", "flush 100+50"}},
		{"window", rw | verbs.AccessFlushPersistent | verbs.AccessMWBind, true, nil, verbs.StatusSuccess,
			[]string{"placed 1124+50", "flush 1124+50"}},
		{"no-flush-right", rw, false, nil, verbs.StatusRemoteAccess, []string{"placed 100+50"}},
		{"hook-fails", rw | verbs.AccessFlushPersistent, false, errors.New("disk on fire"), verbs.StatusRemoteOp,
			[]string{"placed 100+50", "flush 100+50"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			hooks := &recHooks{flushErr: tc.flushErr}
			buf := make([]byte, 8192)
			mr, err := p.s.PD().RegisterWith(buf, tc.access, verbs.RegisterOptions{Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			defer mr.Deregister()
			rkey, base := mr.RKey(), mr.Addr()
			if tc.window {
				w, err := p.s.BindMW(mr, 1024, 4096, verbs.AccessRemoteWrite|verbs.AccessFlushPersistent)
				if err != nil {
					t.Fatal(err)
				}
				rkey, base = w.RKey(), w.Addr()
			}
			src, _ := region(t, p.c.PD(), 64, verbs.AccessLocalWrite)
			mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 50), RKey: rkey, Remote: base + 100})
			mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpFlush, Local: verbs.SGE{Length: 50}, RKey: rkey, Remote: base + 100})
			wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, tc.want)
			if ev := hooks.placements(); fmt.Sprint(ev) != fmt.Sprint(tc.wantEv) {
				t.Fatalf("hook events %q, want %q", ev, tc.wantEv)
			}
		})
	}
}

// ReadServed reaches every hooked region of the PD when a Read Request
// (or a completion fence) arrives, after the placements before it.
func TestHooksReadServed(t *testing.T) {
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	h1, h2 := &recHooks{}, &recHooks{}
	m1, err := p.s.PD().RegisterWith(make([]byte, 4096), rw, verbs.RegisterOptions{Hooks: h1})
	if err != nil {
		t.Fatal(err)
	}
	defer m1.Deregister()
	m2, err := p.s.PD().RegisterWith(make([]byte, 4096), rw, verbs.RegisterOptions{Hooks: h2})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := region(t, p.c.PD(), 4096, verbs.AccessLocalWrite)
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 10), RKey: m1.RKey(), Remote: m1.Addr() + 5})
	mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 10), RKey: m1.RKey(), Remote: m1.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
	// The placement comes first, then the Read (and maybe a fence).
	if ev := h1.events(); len(ev) < 2 || ev[0] != "placed 5+10" || h1.reads() != len(ev)-1 {
		t.Fatalf("region 1 events %q", ev)
	}
	if ev := h2.events(); len(ev) < 1 || h2.reads() != len(ev) {
		t.Fatalf("region 2 events %q", ev)
	}
	// A deregistered region hears nothing more.
	m2.Deregister()
	before := len(h2.events())
	r1 := h1.reads()
	mustPost(t, p.c, verbs.SendWR{ID: 2, Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 10), RKey: m1.RKey(), Remote: m1.Addr()})
	waitN(t, p.c.SendCQ(), 1)
	if h1.reads() <= r1 {
		t.Fatal("the second Read reached no ReadServed")
	}
	if ev := h2.events(); len(ev) != before {
		t.Fatalf("deregistered region heard %q", ev[before:])
	}
}

func TestConnData(t *testing.T) {
	tests := []struct {
		name string
		e    enhanced
		x    extHdr
		user []byte
	}{
		{"plain", enhanced{ird: 5, ord: 7}, extHdr{}, []byte("hi")},
		{"p2p-read", enhanced{ird: enhIRDORD, ord: 1, p2p: true, readRTR: true}, extHdr{present: true, flags: extAll}, nil},
		{"all-rtr", enhanced{p2p: true, zeroRTR: true, writeRTR: true, readRTR: true}, extHdr{present: true}, make([]byte, MaxPrivateData)},
	}
	for _, tc := range tests {
		b := appendConnData(nil, tc.e, tc.x, tc.user)
		e, x, user, err := parseConnData(b, true)
		if err != nil || e != tc.e || x != tc.x || string(user) != string(tc.user) {
			t.Errorf("%s: round trip %+v %+v %q %v", tc.name, e, x, user, err)
		}
		f, err := parseMPA(appendMPARev(nil, false, false, mpaRev2, b), false)
		if err != nil || f.rev != mpaRev2 {
			t.Errorf("%s: MPA frame %+v %v", tc.name, f, err)
		}
	}
	if _, err := parseMPA(appendMPARev(nil, true, false, mpaRev2, []byte{1, 2}), true); !errors.Is(err, errMPA) {
		t.Errorf("revision 2 without enhanced data: %v", err)
	}
	if _, err := parseMPA(appendMPARev(nil, true, false, 3, nil), true); !errors.Is(err, errMPA) {
		t.Errorf("revision 3: %v", err)
	}
	bad := appendConnData(nil, enhanced{}, extHdr{present: true}, nil)
	bad[enhSize+7] = 1
	if _, _, _, err := parseConnData(bad, true); !errors.Is(err, errMPA) {
		t.Errorf("reserved bytes set: %v", err)
	}
}

// syncMW is syncMR for a memory window.
func syncMW(w verbs.MW) {
	w.(*mw).m.mu.Lock()
	w.(*mw).m.mu.Unlock()
}

// With a small peer IRD the initiator holds Reads and FLUSHes back until
// responses retire earlier ones; everything still completes in order.
func TestPeerIRDThrottle(t *testing.T) {
	p := newPair(t, verbs.QPConfig{SendDepth: 16}, verbs.QPConfig{}, nil)
	p.c.mu.Lock()
	p.c.peerIRD = 2
	p.c.mu.Unlock()
	tgt, _ := region(t, p.s.PD(), 4096, rw|verbs.AccessFlushPersistent)
	src, _ := region(t, p.c.PD(), 4096, verbs.AccessLocalWrite)
	var want []verbs.Status
	for i := range 16 {
		wr := verbs.SendWR{ID: uint64(i), Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 64), RKey: tgt.RKey(), Remote: tgt.Addr()}
		switch i % 4 {
		case 1:
			wr.Op = verbs.OpWrite
		case 2:
			wr.Op, wr.Local = verbs.OpFlush, verbs.SGE{Length: 64}
		}
		mustPost(t, p.c, wr)
		want = append(want, verbs.StatusSuccess)
	}
	wantStatuses(t, waitN(t, p.c.SendCQ(), 16), want...)
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if n := p.c.orqTail - p.c.orqHead; n != 0 {
		t.Fatalf("%d requests still outstanding", n)
	}
}

// TestBindRegionNeedsNoRemoteRight: a region with no remote right of its
// own (the brick's per-session region) opens nothing through its own key,
// while a window over it grants what it was bound with (InfiniBand rules).
func TestBindRegionNeedsNoRemoteRight(t *testing.T) {
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	mr, buf := region(t, p.s.PD(), 8192, verbs.AccessLocalWrite|verbs.AccessMWBind)
	w, err := p.s.BindMW(mr, 4096, 4096, verbs.AccessRemoteWrite|verbs.AccessRemoteRead)
	if err != nil {
		t.Fatal(err)
	}
	src, sb := region(t, p.c.PD(), 8, 0)
	copy(sb, "windowed")
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 8), RKey: w.RKey(), Remote: w.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 1), verbs.StatusSuccess)
	// Read it back through the window (the completion orders the bytes
	// for the race detector; the target's memory is not ours to peek at).
	sink, kb := region(t, p.c.PD(), 8, verbs.AccessLocalWrite)
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpRead, Local: verbs.SGEOf(sink, 0, 8), RKey: w.RKey(), Remote: w.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 1), verbs.StatusSuccess)
	if string(kb) != "windowed" {
		t.Fatalf("window write did not land: %q", kb)
	}
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 8), RKey: mr.RKey(), Remote: mr.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 1), verbs.StatusRemoteAccess)
	waitDone(t, p.s)
	if string(buf[:8]) == "windowed" {
		t.Fatal("the region's own key opened it to the peer")
	}
}
