package pmem

import (
	"fmt"
	"sync"
	"unsafe"
)

// The power-fail simulator.
//
// A PowerFail region is live memory (what the CPU and the software RNIC
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
//	Region.Zero               frame cleared and made persistent
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
// makes no such stores except through Zero.
//
// State is kept as interval sets (spanSet), not per byte, so a test can run
// thousands of operations on a 32 MiB region in milliseconds; every
// transition is deterministic.
//
// Crash returns a new region holding only the persistent image, on which a
// test reopens the brick; the crashed region's hooks become no-ops, so an
// RNIC still delivering into it cannot disturb the result.

// PowerFailConfig configures the simulated platform.
type PowerFailConfig struct {
	// DDIO: inbound RNIC writes allocate into the CPU cache (Intel DDIO on,
	// the default on Intel servers), so a served Read moves them to the
	// cache rather than to the memory controller.
	DDIO bool
	// Domain is the persistence domain of the simulated memory: DomainADR
	// (the default when unset) or DomainEADR (cached = persistent).
	Domain Domain
}

// ByteState is where the model says a byte is.
type ByteState int

// Byte states.
const (
	StatePersistent ByteState = iota
	StateCached
	StatePosted
)

func (s ByteState) String() string {
	switch s {
	case StatePersistent:
		return "persistent"
	case StateCached:
		return "cached"
	case StatePosted:
		return "posted"
	}
	return fmt.Sprintf("ByteState(%d)", int(s))
}

// tagCached is the span tag for cached bytes; posted spans carry their
// tracker's id (> 0).
const tagCached = 0

// PowerFail is the power-fail simulator backend. It implements Region;
// HooksFor(r, b) and FrameHooks return its data-path hooks.
type PowerFail struct {
	cfg    PowerFailConfig
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
		successor *PowerFail
		// sb is the decoded superblock; Bind changes its binding.
		sb superblock
	}
}

var _ Region = (*PowerFail)(nil)

// NewPowerFail returns a simulator region of size bytes (a multiple of
// FrameSize, at least two frames), formatted with a fresh UUID. The
// superblock starts persistent.
func NewPowerFail(size int64, cfg PowerFailConfig) (*PowerFail, error) {
	if _, ok := checkFrameCount(size); !ok {
		return nil, fmt.Errorf("pmem: power-fail region of %d bytes: not a multiple of %d of at least 2 frames: %w", size, FrameSize, ErrInvalidSize)
	}
	return newPowerFail(make([]byte, size), cfg)
}

// NewPowerFailImage returns a simulator region whose live and persistent
// contents are a copy of img (for instance a PersistentImage). An all-zero
// header is formatted.
func NewPowerFailImage(img []byte, cfg PowerFailConfig) (*PowerFail, error) {
	if _, ok := checkFrameCount(int64(len(img))); !ok {
		return nil, fmt.Errorf("pmem: power-fail image of %d bytes: not a multiple of %d of at least 2 frames: %w", len(img), FrameSize, ErrInvalidSize)
	}
	live := make([]byte, len(img))
	copy(live, img)
	return newPowerFail(live, cfg)
}

func newPowerFail(live []byte, cfg PowerFailConfig) (*PowerFail, error) {
	switch cfg.Domain {
	case DomainUnknown:
		cfg.Domain = DomainADR
	case DomainADR, DomainEADR:
	default:
		return nil, fmt.Errorf("pmem: power-fail simulator models ADR or eADR, not %s: %w", cfg.Domain, ErrNotSupported)
	}
	sb, _, err := formatOrValidate(live, int64(len(live)), true)
	if err != nil {
		return nil, fmt.Errorf("pmem: power-fail image: %w", err)
	}
	r := &PowerFail{cfg: cfg, frames: sb.frames, uuid: sb.uuid, live: live}
	r.mu.sb = sb
	r.mu.persistent = make([]byte, len(live))
	copy(r.mu.persistent, live) // the (new) superblock is flushed at format
	return r, nil
}

// Config is the simulated platform.
func (r *PowerFail) Config() PowerFailConfig { return r.cfg }

func (r *PowerFail) Kind() Kind       { return KindPowerFail }
func (r *PowerFail) Persistent() bool { return true }
func (r *PowerFail) Path() string     { return "" }
func (r *PowerFail) UUID() [16]byte   { return r.uuid }
func (r *PowerFail) Frames() uint64   { return r.frames }

// Properties: persistent, CPU-flushed, in the configured domain.
func (r *PowerFail) Properties() Properties {
	return Properties{
		Kind: KindPowerFail, Persistent: true, FlushMethod: FlushCPU,
		Domain: r.cfg.Domain, InPersistenceDomain: true,
		SkipCPUFlush: r.cfg.Domain == DomainEADR, CPUFlush: "simulated",
		DDIO: ddioModel(r.cfg.DDIO),
	}
}

func ddioModel(on bool) DDIOModel {
	if on {
		return DDIOModelOn
	}
	return DDIOModelOff
}

// DataSpan is the live memory's data frames, after the superblock frame.
func (r *PowerFail) DataSpan() []byte {
	end := (r.frames + 1) * FrameSize
	return r.live[FrameSize:end:end]
}

// Frame returns data frame i of the live memory.
func (r *PowerFail) Frame(i uint64) []byte {
	if i >= r.frames {
		panic(fmt.Sprintf("pmem: frame %d out of range (region has %d data frames)", i, r.frames))
	}
	off := (i + 1) * FrameSize
	return r.live[off : off+FrameSize : off+FrameSize]
}

// offsetOf returns b's offset in the region.
func (r *PowerFail) offsetOf(b []byte) (int64, error) {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(r.live)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if len(b) == 0 {
		return 0, nil
	}
	if p < base || p+uintptr(len(b)) > base+uintptr(len(r.live)) {
		return 0, fmt.Errorf("pmem: range of %d bytes at %#x is outside the power-fail region [%#x, %#x): %w",
			len(b), p, base, base+uintptr(len(r.live)), ErrRange)
	}
	return int64(p - base), nil
}

// Flush is a CPU flush of b: posted and cached bytes in b become
// persistent.
func (r *PowerFail) Flush(b []byte) error {
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
func (r *PowerFail) Stored(b []byte) error {
	off, err := r.offsetOf(b)
	if err != nil || len(b) == 0 {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Domain == DomainEADR {
		r.persistLocked(off, off+int64(len(b)))
		return nil
	}
	if !r.mu.crashed {
		r.mu.spans.assign(off, off+int64(len(b)), tagCached)
	}
	return nil
}

// Binding returns the metadata binding the superblock records.
func (r *PowerFail) Binding() (Binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.sb.binding, r.mu.sb.version >= superblockVersion
}

// Bind records b in the live superblock, each step flushed into the
// persistent image as a CPU flush would.
func (r *PowerFail) Bind(b Binding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.sb.bind(r.live, b, func(s []byte) error {
		off, err := r.offsetOf(s)
		if err == nil {
			r.persistLocked(off, off+int64(len(s)))
		}
		return err
	})
}

// Zero clears data frame i and makes the zeroes persistent.
func (r *PowerFail) Zero(i uint64) error {
	f := r.Frame(i)
	clear(f)
	return r.Flush(f)
}

// Close marks the region closed. Its memory and state stay, so Crash and
// PersistentImage still work after the brick above it has shut down.
func (r *PowerFail) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return ErrClosed
	}
	r.mu.closed = true
	return nil
}

// persistLocked copies live [a, b) to the persistent image and forgets
// every span there.
func (r *PowerFail) persistLocked(a, b int64) {
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
func (r *PowerFail) Crash() *PowerFail {
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
	sb, err := decodeSuperblock(img, int64(len(img)))
	if err != nil {
		panic(fmt.Sprintf("pmem: power-fail image lost its superblock: %v", err))
	}
	n := &PowerFail{cfg: r.cfg, frames: sb.frames, uuid: sb.uuid, live: live}
	n.mu.sb = sb
	n.mu.persistent = img
	r.mu.successor = n
	return n
}

// PersistentImage returns a copy of what a crash now would leave (nil once
// the region has crashed).
func (r *PowerFail) PersistentImage() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.crashed {
		return nil
	}
	return append([]byte(nil), r.mu.persistent...)
}

// StateAt says where byte off of data frame i is.
func (r *PowerFail) StateAt(i uint64, off int) ByteState {
	_ = r.Frame(i)[off] // bounds
	r.mu.Lock()
	defer r.mu.Unlock()
	tag, ok := r.mu.spans.at(int64(i+1)*FrameSize + int64(off))
	switch {
	case !ok:
		return StatePersistent
	case tag == tagCached:
		return StateCached
	default:
		return StatePosted
	}
}

// PowerFailStats count the bytes not yet persistent.
type PowerFailStats struct {
	Posted, Cached int64
	// Spans is the number of intervals the model tracks.
	Spans int
}

// Stats counts posted and cached bytes.
func (r *PowerFail) Stats() PowerFailStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := PowerFailStats{Spans: len(r.mu.spans.s)}
	for _, sp := range r.mu.spans.s {
		if sp.tag == tagCached {
			st.Cached += sp.end - sp.start
		} else {
			st.Posted += sp.end - sp.start
		}
	}
	return st
}

// PowerFailHooks are the data-path hooks of one registration (one tracker):
// the method set of verbs.Hooks. Offsets are relative to the registered
// buffer.
type PowerFailHooks struct {
	r         *PowerFail
	id        uint32
	base, len int64
}

var _ DataPath = (*PowerFailHooks)(nil)

// FrameHooks returns hooks for a registration of all of data frame i.
func (r *PowerFail) FrameHooks(i uint64) *PowerFailHooks {
	h, err := r.newHooks(r.Frame(i))
	if err != nil {
		panic(err) // a Frame is always inside the region
	}
	return h
}

// hooks makes PowerFail a hooker for HooksFor.
func (r *PowerFail) hooks(b []byte) (DataPath, error) { return r.newHooks(b) }

func (r *PowerFail) newHooks(b []byte) (*PowerFailHooks, error) {
	off, err := r.offsetOf(b)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.nextTracker++
	return &PowerFailHooks{r: r, id: r.mu.nextTracker, base: off, len: int64(len(b))}, nil
}

// bounds converts a registration-relative range to region offsets.
func (h *PowerFailHooks) bounds(off, n int) (int64, int64) {
	if off < 0 || n < 0 || int64(off)+int64(n) > h.len {
		panic(fmt.Sprintf("pmem: power-fail hook range [%d, %d) outside a %d-byte registration", off, off+n, h.len))
	}
	return h.base + int64(off), h.base + int64(off) + int64(n)
}

// Placed marks [off, off+n) posted by this registration.
func (h *PowerFailHooks) Placed(off, n int) {
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
func (h *PowerFailHooks) ReadServed() {
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.crashed {
		return
	}
	toCache := r.cfg.DDIO && r.cfg.Domain != DomainEADR
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
func (h *PowerFailHooks) Flush(off, n int) error {
	if off < 0 || n < 0 || int64(off)+int64(n) > h.len {
		return fmt.Errorf("pmem: FLUSH of [%d, %d) outside a %d-byte registration: %w", off, off+n, h.len, ErrRange)
	}
	a, b := h.bounds(off, n)
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.persistLocked(a, b)
	return nil
}
