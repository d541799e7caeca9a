package powerfail

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/brick-storage/brick/internal/imghdr"
	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/pmem"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

const pfSize = 3 * pmem.FrameSize // superblock + 2 data frames

func newPF(t *testing.T, cfg Config) *Region {
	t.Helper()
	r, err := New(pfSize, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// place is an inbound RDMA Write: the RNIC stores, then calls Placed.
func place(h pmem.DataPath, frame []byte, off int, data string) {
	copy(frame[off:], data)
	h.Placed(off, len(data))
}

func TestPowerFailTransitions(t *testing.T) {
	adr, eadr := pmem.DomainADR, pmem.DomainEADR
	tests := []struct {
		name string
		cfg  Config
		// act runs after "hello" was placed at offset 100 of frame 1
		// through h (a registration of all of frame 1).
		act      func(r *Region, h *Hooks) error
		state    ByteState // of byte 100 before the crash
		survives bool
	}{
		{"posted only is lost", Config{Domain: adr}, func(*Region, *Hooks) error { return nil }, StatePosted, false},
		{"DDIO off, read served: persistent", Config{Domain: adr}, func(_ *Region, h *Hooks) error { h.ReadServed(); return nil }, StatePersistent, true},
		{"DDIO on, read served: cached, lost", Config{DDIO: true, Domain: adr}, func(_ *Region, h *Hooks) error { h.ReadServed(); return nil }, StateCached, false},
		{"DDIO on, read served, CPU flush: persistent", Config{DDIO: true, Domain: adr}, func(r *Region, h *Hooks) error {
			h.ReadServed()
			return r.Flush(r.Frame(1)[100:105])
		}, StatePersistent, true},
		{"DDIO on, eADR: read served is persistent", Config{DDIO: true, Domain: eadr}, func(_ *Region, h *Hooks) error { h.ReadServed(); return nil }, StatePersistent, true},
		{"eADR, posted only is still lost", Config{DDIO: true, Domain: eadr}, func(*Region, *Hooks) error { return nil }, StatePosted, false},
		{"FLUSH hook: persistent", Config{DDIO: true, Domain: adr}, func(_ *Region, h *Hooks) error { return h.Flush(96, 16) }, StatePersistent, true},
		{"FLUSH hook of another range: lost", Config{DDIO: true, Domain: adr}, func(_ *Region, h *Hooks) error { return h.Flush(105, 100) }, StatePosted, false},
		{"CPU flush (GPSPM) of posted: persistent", Config{DDIO: true, Domain: adr}, func(r *Region, _ *Hooks) error {
			return r.Flush(r.Frame(1)[0:4096])
		}, StatePersistent, true},
		{"read served on another registration: still posted", Config{Domain: adr}, func(r *Region, _ *Hooks) error {
			r.FrameHooks(1).ReadServed()
			return nil
		}, StatePosted, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPF(t, tt.cfg)
			h := r.FrameHooks(1)
			place(h, r.Frame(1), 100, "hello")
			if err := tt.act(r, h); err != nil {
				t.Fatal(err)
			}
			for i := 100; i < 105; i++ {
				if got := r.StateAt(1, i); got != tt.state {
					t.Fatalf("byte %d is %s, want %s", i, got, tt.state)
				}
			}
			if got := r.StateAt(1, 99); got != StatePersistent {
				t.Fatalf("untouched byte is %s", got)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			c := r.Crash()
			if c.UUID() != r.UUID() || c.Frames() != r.Frames() || c.Config() != r.Config() {
				t.Fatal("crash changed the region's identity")
			}
			got := string(c.Frame(1)[100:105])
			if tt.survives && got != "hello" || !tt.survives && got != "\x00\x00\x00\x00\x00" {
				t.Fatalf("after crash: %q (survives=%v)", got, tt.survives)
			}
			if st := c.Stats(); st != (Stats{}) {
				t.Fatalf("fresh region after crash has %+v", st)
			}
		})
	}
}

// An overwrite that is not yet persistent reverts to the last persistent
// value, not to zero.
func TestPowerFailOverwriteReverts(t *testing.T) {
	r := newPF(t, Config{DDIO: true})
	h := r.FrameHooks(0)
	place(h, r.Frame(0), 0, "AAAA")
	if err := h.Flush(0, 4); err != nil {
		t.Fatal(err)
	}
	place(h, r.Frame(0), 2, "BBBB")
	h.ReadServed() // DDIO on: cached
	if got := string(r.Frame(0)[:6]); got != "AABBBB" {
		t.Fatalf("live %q", got)
	}
	c := r.Crash()
	// Bytes 2-3 revert to the persistent "AA", bytes 4-5 to zero.
	if got := string(c.Frame(0)[:6]); got != "AAAA\x00\x00" {
		t.Fatalf("after crash %q", got)
	}
	// The crashed region's hooks are dead: a late placement changes nothing.
	place(h, r.Frame(0), 0, "ZZ")
	h.ReadServed()
	if err := h.Flush(0, 2); err != nil {
		t.Fatal(err)
	}
	if got := string(r.Crash().Frame(0)[:2]); got != "AA" {
		t.Fatalf("stale hooks reached the image: %q", got)
	}
}

func TestPowerFailZeroAndStores(t *testing.T) {
	r := newPF(t, Config{})
	f := r.Frame(1)
	copy(f[10:], "data")
	if err := r.Flush(f[10:14]); err != nil {
		t.Fatal(err)
	}
	copy(f[20:], "unflushed CPU store")
	if got := string(r.Crash().Frame(1)[10:14]); got != "data" {
		t.Fatalf("flushed store lost: %q", got)
	}
	r = newPF(t, Config{})
	f = r.Frame(1)
	copy(f[10:], "data")
	if err := r.Flush(f[10:14]); err != nil {
		t.Fatal(err)
	}
	copy(f[20:], "unflushed")
	c := r.Crash()
	if got := c.Frame(1)[20]; got != 0 {
		t.Fatal("an unflushed CPU store survived")
	}
	if err := zeroFrame(c, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Crash().Frame(1)[:64], make([]byte, 64)) {
		t.Fatal("zeroing not persistent")
	}
}

func TestPowerFailRegionErrors(t *testing.T) {
	r := newPF(t, Config{})
	if p := r.Properties(); r.Kind() != Kind || !p.Persistent || !p.InPersistenceDomain || p.Domain != pmem.DomainADR || p.FlushMethod != pmem.FlushCPU {
		t.Fatalf("properties %+v", p)
	}
	if err := r.Flush(make([]byte, 4)); !errors.Is(err, pmem.ErrRange) {
		t.Fatalf("Flush outside = %v", err)
	}
	if _, err := pmem.HooksFor(r, make([]byte, 4)); !errors.Is(err, pmem.ErrRange) {
		t.Fatalf("pmem.HooksFor outside = %v", err)
	}
	h, err := pmem.HooksFor(r, r.Frame(0)[4096:8192])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(4000, 100); !errors.Is(err, pmem.ErrRange) {
		t.Fatalf("hook Flush past the registration = %v", err)
	}
	// Offsets are relative to the registration.
	place(h, r.Frame(0)[4096:8192], 8, "x")
	if r.StateAt(0, 4096+8) != StatePosted || r.StateAt(0, 8) != StatePersistent {
		t.Fatal("hook offsets not relative to the registered buffer")
	}
	if _, err := New(pmem.FrameSize, Config{}); !errors.Is(err, pmem.ErrInvalidSize) {
		t.Fatalf("one frame: %v", err)
	}
	if _, err := New(pfSize, Config{Domain: pmem.DomainNone}); !errors.Is(err, pmem.ErrNotSupported) {
		t.Fatalf("domain none: %v", err)
	}
	if p := newPF(t, Config{Domain: pmem.DomainEADR}).Properties(); !p.SkipCPUFlush {
		t.Fatalf("eADR properties %+v", p)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); !errors.Is(err, pmem.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	img := r.PersistentImage()
	bad := append([]byte(nil), img...)
	bad[0] ^= 1
	if _, err := NewImage(bad, Config{}); !errors.Is(err, imghdr.ErrBadMagic) {
		t.Fatalf("damaged image: %v", err)
	}
	if c, err := NewImage(img, Config{}); err != nil || c.UUID() != r.UUID() {
		t.Fatalf("image reopen: %v", err)
	}
}

// refModel is the power-fail model written the slow, obvious way: one state
// per byte of a window at the start of data frame 0.
type refModel struct {
	cfg  Config
	live []byte
	pers []byte
	tag  []int // 0 persistent, -1 cached, k > 0 posted by tracker k
}

func (m *refModel) persist(a, b int) {
	copy(m.pers[a:b], m.live[a:b])
	for i := a; i < b; i++ {
		m.tag[i] = 0
	}
}

// TestPowerFailRandomStreams drives the simulator and the reference model
// with the same random stream of placements, CPU stores, served reads,
// FLUSHes, CPU flushes and crashes, and checks after every step that they
// agree on every byte's state and, at every crash, on the surviving image.
// It also checks the invariants the persist methods rely on directly: a
// byte the model calls persistent survives a crash with its live value; a
// byte that is posted or cached reverts to its last persistent value.
func TestPowerFailRandomStreams(t *testing.T) {
	const window = 16 << 10
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 42, 1234, 99991, 271828}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			cfg := Config{DDIO: rng.IntN(2) == 0, Domain: []pmem.Domain{pmem.DomainADR, pmem.DomainEADR}[rng.IntN(2)]}
			r, err := New(2*pmem.FrameSize, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ref := &refModel{cfg: cfg, live: make([]byte, window), pers: make([]byte, window), tag: make([]int, window)}
			type tracker struct {
				h         pmem.DataPath
				id        int
				base, len int
			}
			var trackers []tracker
			register := func() {
				trackers = trackers[:0]
				for k := 1; k <= 3; k++ {
					base := rng.IntN(window / 2)
					n := 1 + rng.IntN(window-base)
					h, err := pmem.HooksFor(r, r.Frame(0)[base:base+n])
					if err != nil {
						t.Fatal(err)
					}
					trackers = append(trackers, tracker{h: h, id: int(h.(*Hooks).id), base: base, len: n})
				}
			}
			register()
			randRange := func(limit int) (int, int) {
				a := rng.IntN(limit)
				return a, a + 1 + rng.IntN(min(limit-a, 512))
			}
			fill := func(b []byte) {
				for i := range b {
					b[i] = byte(rng.Uint32())
				}
			}
			crashes := 0
			for step := range 300 {
				switch op := rng.IntN(100); {
				case op < 35: // RDMA Write through a registration
					tr := trackers[rng.IntN(len(trackers))]
					a, b := randRange(tr.len)
					fill(r.Frame(0)[tr.base+a : tr.base+b])
					tr.h.Placed(a, b-a)
					copy(ref.live[tr.base+a:tr.base+b], r.Frame(0)[tr.base+a:tr.base+b])
					for i := tr.base + a; i < tr.base+b; i++ {
						ref.tag[i] = tr.id
					}
				case op < 45: // CPU store by the brick, reported with Stored
					a, b := randRange(window)
					fill(r.Frame(0)[a:b])
					if err := r.Stored(r.Frame(0)[a:b]); err != nil {
						t.Fatal(err)
					}
					copy(ref.live[a:b], r.Frame(0)[a:b])
					for i := a; i < b; i++ {
						ref.tag[i] = -1
					}
					if cfg.Domain == pmem.DomainEADR {
						ref.persist(a, b)
					}
				case op < 65: // a Read served
					tr := trackers[rng.IntN(len(trackers))]
					tr.h.ReadServed()
					for i := range ref.tag {
						if ref.tag[i] != tr.id {
							continue
						}
						if cfg.DDIO && cfg.Domain != pmem.DomainEADR {
							ref.tag[i] = -1
						} else {
							ref.persist(i, i+1)
						}
					}
				case op < 75: // RDMA FLUSH
					tr := trackers[rng.IntN(len(trackers))]
					a, b := randRange(tr.len)
					if err := tr.h.Flush(a, b-a); err != nil {
						t.Fatal(err)
					}
					ref.persist(tr.base+a, tr.base+b)
				case op < 85: // CPU flush (GPSPM)
					a, b := randRange(window)
					if err := r.Flush(r.Frame(0)[a:b]); err != nil {
						t.Fatal(err)
					}
					ref.persist(a, b)
				case op < 97: // new registrations
					register()
				default: // power failure
					crashes++
					before := append([]byte(nil), r.Frame(0)[:window]...)
					c := r.Crash()
					after := c.Frame(0)[:window]
					if !bytes.Equal(after, ref.pers) {
						t.Fatalf("step %d: crash image differs from the reference model", step)
					}
					for i := range after {
						if ref.tag[i] == 0 && after[i] != before[i] {
							t.Fatalf("step %d: byte %d was persistent (%#x) but came back %#x", step, i, before[i], after[i])
						}
					}
					if r.Crash() != c || r.PersistentImage() != nil {
						t.Fatalf("step %d: Crash is not idempotent", step)
					}
					r = c
					copy(ref.live, ref.pers)
					clear(ref.tag)
					register()
				}
				for i := rng.IntN(64); i < window; i += 1 + rng.IntN(256) {
					want := StatePersistent
					switch {
					case ref.tag[i] == -1:
						want = StateCached
					case ref.tag[i] > 0:
						want = StatePosted
					}
					if got := r.StateAt(0, i); got != want {
						t.Fatalf("step %d: byte %d is %s, reference says %s", step, i, got, want)
					}
				}
				if cfg.Domain == pmem.DomainEADR && r.Stats().Cached != 0 {
					t.Fatalf("step %d: eADR region holds cached bytes", step)
				}
			}
			if crashes == 0 {
				t.Fatal("stream had no crash")
			}
			t.Logf("config %+v: %d crashes, %d spans at the end", cfg, crashes, r.Stats().Spans)
		})
	}
}

// zeroFrame clears data frame i and makes the zeroes durable, as the brick
// does before it hands a frame out.
func zeroFrame(r *Region, i uint64) error {
	f := r.Frame(i)
	clear(f)
	return r.Flush(f)
}

// TestPowerFailBinding: the simulator's Bind reaches its persistent image.
func TestPowerFailBinding(t *testing.T) {
	r, err := New(pfSize, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := pmem.Binding{Store: [16]byte{9}, Generation: 4}
	if err := r.Bind(want); err != nil {
		t.Fatal(err)
	}
	if b, ok := r.Crash().Binding(); !ok || b != want {
		t.Fatalf("after a crash: %+v (%v), want %+v", b, ok, want)
	}
}
