// Package powerfail is the power-fail simulator: a pmem.Region for tests
// that knows, for every byte, what a power failure would leave. Production
// code never imports it (brickd cannot select it); tests of brick, persist
// and pmem's callers do, the way pebble's tests use vfs/errorfs.
//
// A Region is live memory (what the CPU and the software RNIC
// read and write; Frame slices point into it, so the RNIC places directly
// into them) plus a shadow persistent image: what a power failure would
// leave. Every byte is in one of three places:
//
//   - posted: placed by an inbound RDMA Write but still in the NIC/PCIe
//     path (Placed through a tracker's hooks);
//   - cached: in the CPU cache (a posted range after a Read was served
//     with DDIO on);
//   - persistent: in the persistence domain; the shadow image holds it.
//
// Transitions, per docs/design.md "Persistence":
//
//	Placed(off, n)            range → posted (by this tracker)
//	ReadServed()  DDIO off    this tracker's posted → persistent
//	ReadServed()  DDIO on     this tracker's posted → cached
//	Hooks.Flush (RDMA FLUSH)  posted and cached in range → persistent
//	Region.Flush (CPU flush)  posted and cached in range → persistent
//
// Region.Flush also persists posted bytes because the brick only flushes a
// range after it has seen a message (the GPSPM persist request) that the
// client sent after its Writes: by PCIe ordering those Writes were visible
// to the CPU, in cache or memory, before the flush started. In an eADR
// domain "cached" is persistent: anything that would become cached becomes
// persistent at once; posted bytes are still lost.
//
// The model sees stores only through the hooks, the Region methods and
// Stored: a CPU store made directly into a Frame slice and not reported
// with Stored is in the live memory but reaches the persistent image only
// when a Flush covers it (as under ADR), whatever the domain. The brick
// makes such stores only to zero a frame, which it then flushes.
//
// State is kept as interval sets (spanSet), not per byte, so a test can run
// thousands of operations on a 32 MiB region in milliseconds; every
// transition is deterministic.
//
// Crash returns a new region holding only the persistent image, on which a
// test reopens the brick; the crashed region's hooks become no-ops, so an
// RNIC still delivering into it cannot disturb the result.
package powerfail

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/brick-storage/brick/pmem"
)

// Kind is the simulator's backend name (pmem.Region.Kind). pmem.Open does
// not know it: only a test can construct a simulator.
const Kind pmem.Kind = "powerfail"

// Config configures the simulated platform.
type Config struct {
	// DDIO: inbound RNIC writes allocate into the CPU cache (Intel DDIO on,
	// the default on Intel servers), so a served Read moves them to the
	// cache rather than to the memory controller.
	DDIO bool
	// Domain is the persistence domain of the simulated memory: pmem.DomainADR
	// (the default when unset) or pmem.DomainEADR (cached = persistent).
	Domain pmem.Domain
}

// ByteState is where the model says a byte is.
type ByteState int

// Byte states.
const (
	StatePersistent ByteState = iota
	StateCached
	StatePosted
)

var byteStateNames = [...]string{StatePersistent: "persistent", StateCached: "cached", StatePosted: "posted"}

func (s ByteState) String() string {
	if s >= 0 && int(s) < len(byteStateNames) {
		return byteStateNames[s]
	}
	return fmt.Sprintf("ByteState(%d)", int(s))
}

// tagCached is the span tag for cached bytes; posted spans carry their
// tracker's id (> 0).
const tagCached = 0

// Region is the power-fail simulator backend. It implements pmem.Region;
// pmem.HooksFor(r, b) and FrameHooks return its data-path hooks.
type Region struct {
	cfg    Config
	frames uint64
	uuid   [16]byte
	// live is the whole region, superblock frame included. Written by the
	// CPU and the RNIC without mu (like real memory); read under mu when a
	// range becomes persistent.
	live []byte

	mu struct {
		sync.Mutex
		// persistent is the shadow image: what survives a crash.
		persistent []byte
		// spans holds every byte that is not persistent.
		spans spanSet
		// nextTracker numbers trackers from 1.
		nextTracker uint32
		closed      bool
		// crashed: Crash was called; hooks and flushes are no-ops.
		crashed bool
		// successor is the region Crash returned; it owns the image.
		successor *Region
		// sb is the decoded superblock; Bind changes its binding.
		sb *pmem.Header
	}
}

var (
	_ pmem.Region        = (*Region)(nil)
	_ pmem.DataPathModel = (*Region)(nil)
)

// New returns a simulator region of size bytes (a multiple of
// pmem.FrameSize, at least two frames), formatted with a fresh UUID. The
// superblock starts persistent.
func New(size int64, cfg Config) (*Region, error) {
	if !validSize(size) {
		return nil, fmt.Errorf("powerfail: region of %d bytes: not a multiple of %d of at least 2 frames: %w", size, pmem.FrameSize, pmem.ErrInvalidSize)
	}
	return newPowerFail(make([]byte, size), cfg)
}

// NewImage returns a simulator region whose live and persistent
// contents are a copy of img (for instance a PersistentImage). An all-zero
// header is formatted.
func NewImage(img []byte, cfg Config) (*Region, error) {
	if !validSize(int64(len(img))) {
		return nil, fmt.Errorf("powerfail: image of %d bytes: not a multiple of %d of at least 2 frames: %w", len(img), pmem.FrameSize, pmem.ErrInvalidSize)
	}
	live := make([]byte, len(img))
	copy(live, img)
	return newPowerFail(live, cfg)
}

// validSize reports whether size bytes hold a superblock frame and at least
// one data frame, in whole frames.
func validSize(size int64) bool {
	return size >= 2*pmem.FrameSize && size%pmem.FrameSize == 0
}

func newPowerFail(live []byte, cfg Config) (*Region, error) {
	switch cfg.Domain {
	case pmem.DomainUnknown:
		cfg.Domain = pmem.DomainADR
	case pmem.DomainADR, pmem.DomainEADR:
	default:
		return nil, fmt.Errorf("powerfail: the simulator models ADR or eADR, not %s: %w", cfg.Domain, pmem.ErrNotSupported)
	}
	sb, err := pmem.FormatImage(live)
	if err != nil {
		return nil, fmt.Errorf("powerfail: image: %w", err)
	}
	r := &Region{cfg: cfg, frames: sb.Frames(), uuid: sb.UUID(), live: live}
	r.mu.sb = sb
	r.mu.persistent = make([]byte, len(live))
	copy(r.mu.persistent, live) // the (new) superblock is flushed at format
	return r, nil
}

// Config is the simulated platform.
func (r *Region) Config() Config { return r.cfg }

// DDIO reports whether the simulated platform has DDIO on: the hardware
// truth for software RNIC sessions, which persist.ModelledDDIO reads
// from Properties().DDIO.
func (r *Region) DDIO() bool { return r.cfg.DDIO }

func (r *Region) Kind() pmem.Kind  { return Kind }
func (r *Region) Persistent() bool { return true }
func (r *Region) Path() string     { return "" }
func (r *Region) UUID() [16]byte   { return r.uuid }
func (r *Region) Frames() uint64   { return r.frames }

// Properties: persistent, CPU-flushed, in the configured domain.
func (r *Region) Properties() pmem.Properties {
	return pmem.Properties{
		Kind: Kind, Persistent: true, FlushMethod: pmem.FlushCPU,
		Domain: r.cfg.Domain, InPersistenceDomain: true,
		SkipCPUFlush: r.cfg.Domain == pmem.DomainEADR, CPUFlush: "simulated",
		DDIO: ddioModel(r.cfg.DDIO),
	}
}

func ddioModel(on bool) pmem.DDIOModel {
	if on {
		return pmem.DDIOModelOn
	}
	return pmem.DDIOModelOff
}

// DataSpan is the live memory's data frames, after the superblock frame.
func (r *Region) DataSpan() []byte {
	end := (r.frames + 1) * pmem.FrameSize
	return r.live[pmem.FrameSize:end:end]
}

// Frame returns data frame i of the live memory.
func (r *Region) Frame(i uint64) []byte {
	if i >= r.frames {
		panic(fmt.Sprintf("powerfail: frame %d out of range (region has %d data frames)", i, r.frames))
	}
	off := (i + 1) * pmem.FrameSize
	return r.live[off : off+pmem.FrameSize : off+pmem.FrameSize]
}

// offsetOf returns b's offset in the region.
func (r *Region) offsetOf(b []byte) (int64, error) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(r.live)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if len(b) == 0 {
		return 0, nil
	}
	if p < base || p+uintptr(len(b)) > base+uintptr(len(r.live)) {
		return 0, fmt.Errorf("powerfail: range of %d bytes at %#x is outside the region [%#x, %#x): %w",
			len(b), p, base, base+uintptr(len(r.live)), pmem.ErrRange)
	}
	return int64(p - base), nil
}

// Flush is a CPU flush of b: posted and cached bytes in b become
// persistent.
func (r *Region) Flush(b []byte) error {
	off, err := r.offsetOf(b)
	if err != nil || len(b) == 0 {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.persistLocked(off, off+int64(len(b)))
	return nil
}

// Stored tells the model the CPU stored into b (a sub-slice of the
// region): the bytes are cached until a flush covers them, or persistent at
// once under eADR. Stores the model is not told about are in the live
// memory but reach the persistent image only through a flush, and StateAt
// does not see them.
func (r *Region) Stored(b []byte) error {
	off, err := r.offsetOf(b)
	if err != nil || len(b) == 0 {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Domain == pmem.DomainEADR {
		r.persistLocked(off, off+int64(len(b)))
		return nil
	}
	if !r.mu.crashed {
		r.mu.spans.assign(off, off+int64(len(b)), tagCached)
	}
	return nil
}

// Binding returns the metadata binding the superblock records.
func (r *Region) Binding() (pmem.Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.sb.Binding()
}

// Bind records b in the live superblock, each step flushed into the
// persistent image as a CPU flush would.
func (r *Region) Bind(b pmem.Binding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.sb.Bind(r.live, b, func(s []byte) error {
		off, err := r.offsetOf(s)
		if err == nil {
			r.persistLocked(off, off+int64(len(s)))
		}
		return err
	})
}

// Close marks the region closed. Its memory and state stay, so Crash and
// PersistentImage still work after the brick above it has shut down.
func (r *Region) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return pmem.ErrClosed
	}
	r.mu.closed = true
	return nil
}

// persistLocked copies live [a, b) to the persistent image and forgets
// every span there.
func (r *Region) persistLocked(a, b int64) {
	if r.mu.crashed {
		return
	}
	copy(r.mu.persistent[a:b], r.live[a:b])
	r.mu.spans.transform(a, b, func(uint32) bool { return true }, func(int64, int64, uint32) (uint32, bool) { return 0, false })
}

// Crash simulates a power failure: it returns a new region (same config)
// whose live and persistent contents are this region's persistent image,
// which it takes over. This region is dead afterwards: its hooks, flushes
// and Stored do nothing, PersistentImage returns nil, and Crash returns the
// same successor again.
func (r *Region) Crash() *Region {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.successor != nil {
		return r.mu.successor
	}
	r.mu.crashed = true
	img := r.mu.persistent
	r.mu.persistent = nil
	r.mu.spans = spanSet{}
	live := make([]byte, len(img))
	copy(live, img)
	// The persistent image always holds a valid superblock: it is
	// persisted at creation, Bind changes one checksummed slot at a time,
	// and flushes of data frames and Zero do not touch it.
	sb, err := pmem.FormatImage(img)
	if err != nil {
		panic(fmt.Sprintf("powerfail: the persistent image lost its superblock: %v", err))
	}
	n := &Region{cfg: r.cfg, frames: sb.Frames(), uuid: sb.UUID(), live: live}
	n.mu.sb = sb
	n.mu.persistent = img
	r.mu.successor = n
	return n
}

// PersistentImage returns a copy of what a crash now would leave (nil once
// the region has crashed).
func (r *Region) PersistentImage() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.crashed {
		return nil
	}
	return append([]byte(nil), r.mu.persistent...)
}

// StateAt says where byte off of data frame i is.
func (r *Region) StateAt(i uint64, off int) ByteState {
	_ = r.Frame(i)[off] // bounds
	r.mu.Lock()
	defer r.mu.Unlock()
	tag, ok := r.mu.spans.at(int64(i+1)*pmem.FrameSize + int64(off))
	switch {
	case !ok:
		return StatePersistent
	case tag == tagCached:
		return StateCached
	default:
		return StatePosted
	}
}

// Stats count the bytes not yet persistent.
type Stats struct {
	Posted, Cached int64
	// Spans is the number of intervals the model tracks.
	Spans int
}

// Stats counts posted and cached bytes.
func (r *Region) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Spans: len(r.mu.spans.s)}
	for _, sp := range r.mu.spans.s {
		if sp.tag == tagCached {
			st.Cached += sp.end - sp.start
		} else {
			st.Posted += sp.end - sp.start
		}
	}
	return st
}

// Hooks are the data-path hooks of one registration (one tracker):
// the method set of verbs.Hooks. Offsets are relative to the registered
// buffer.
type Hooks struct {
	r         *Region
	id        uint32
	base, len int64
}

var _ pmem.DataPath = (*Hooks)(nil)

// FrameHooks returns hooks for a registration of all of data frame i.
func (r *Region) FrameHooks(i uint64) *Hooks {
	h, err := r.newHooks(r.Frame(i))
	if err != nil {
		panic(err) // a Frame is always inside the region
	}
	return h
}

// DataPath makes the simulator a pmem.DataPathModel: pmem.HooksFor returns
// hooks that drive the model.
func (r *Region) DataPath(b []byte) (pmem.DataPath, error) { return r.newHooks(b) }

func (r *Region) newHooks(b []byte) (*Hooks, error) {
	off, err := r.offsetOf(b)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.nextTracker++
	return &Hooks{r: r, id: r.mu.nextTracker, base: off, len: int64(len(b))}, nil
}

// bounds converts a registration-relative range to region offsets.
func (h *Hooks) bounds(off, n int) (int64, int64) {
	if off < 0 || n < 0 || int64(off)+int64(n) > h.len {
		panic(fmt.Sprintf("powerfail: hook range [%d, %d) outside a %d-byte registration", off, off+n, h.len))
	}
	return h.base + int64(off), h.base + int64(off) + int64(n)
}

// Placed marks [off, off+n) posted by this registration.
func (h *Hooks) Placed(off, n int) {
	a, b := h.bounds(off, n)
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.crashed {
		return
	}
	r.mu.spans.assign(a, b, h.id)
}

// ReadServed moves this registration's posted bytes to the persistence
// domain (DDIO off) or to the CPU cache (DDIO on; persistent under eADR).
func (h *Hooks) ReadServed() {
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.crashed {
		return
	}
	toCache := r.cfg.DDIO && r.cfg.Domain != pmem.DomainEADR
	r.mu.spans.transform(h.base, h.base+h.len,
		func(tag uint32) bool { return tag == h.id },
		func(s, e int64, _ uint32) (uint32, bool) {
			if toCache {
				return tagCached, true
			}
			copy(r.mu.persistent[s:e], r.live[s:e])
			return 0, false
		})
}

// Flush (RDMA FLUSH) makes posted and cached bytes in [off, off+n)
// persistent.
func (h *Hooks) Flush(off, n int) error {
	if off < 0 || n < 0 || int64(off)+int64(n) > h.len {
		return fmt.Errorf("powerfail: FLUSH of [%d, %d) outside a %d-byte registration: %w", off, off+n, h.len, pmem.ErrRange)
	}
	a, b := h.bounds(off, n)
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.persistLocked(a, b)
	return nil
}
