package brick

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// Tiering: capacity beyond pmem.
//
// A block is in a pmem frame (resident), in a slot of the slow tier
// (tiered), or nowhere (allocated, never mapped: it reads as zeros). Only
// Map needs a frame: it places a new block in a zeroed frame, or promotes a
// tiered one, before the handle exists (resident). When Map finds no free
// frame, it demotes the coldest unmapped resident block and takes its frame.
// A background mover keeps free frames between the watermarks so that Map
// seldom has to: when they fall below the low watermark it demotes the
// coldest unmapped blocks until the high watermark is reached.
//
// Which blocks may move: a mapped block never moves (its frame is
// registered with an RNIC). Every move runs under the block's stripe lock,
// the lock Map, Unmap and Free take, so a block cannot be mapped while it
// moves. Coldness is the time since the block was last unmapped, kept in
// memory (an LRU list of the unmapped resident blocks); after a restart the
// order starts over in ID order.
//
// Crash safety is alloc2m.Relocate's: copy and sync (a slot is fsynced by
// tier.Write; a frame is flushed with Region.Flush), commit the new location
// in Pebble, then release the old one. A crash at any point leaves the
// record naming exactly one complete copy, and every frame and slot no
// record names is free at the next open.
//
// Locks: Map holds its block's stripe, then takes roomMu; under roomMu
// other stripes are taken only with TryLock, so nothing waits in a cycle. roomMu serialises demotions, which is what
// makes alloc2m's one held-back location enough: with frames full, one
// demotion at a time always finds a free slot.

// Tier is the slow tier (tier.Store).
type Tier interface {
	// Slots is the number of 2 MiB slots.
	Slots() uint64
	// UUID is the brick identity recorded in the tier.
	UUID() [16]byte
	// Write stores a 2 MiB block in slot and makes it durable.
	Write(slot uint64, p []byte) error
	// Read fills p (2 MiB) from slot.
	Read(slot uint64, p []byte) error
}

// errNoVictim: every frame holds a mapped block or one being moved.
var errNoVictim = errors.New("no unmapped resident block to demote")

// victims is how many of the coldest blocks a demotion tries before it
// gives up (the others are locked by verbs in progress).
const victims = 64

// tiering is the Server's slow-tier state; nil without a tier.
type tiering struct {
	tier      Tier
	low, high uint64 // free-frame watermarks

	// roomMu serialises demotions (see the locking note above).
	roomMu sync.Mutex

	lru struct {
		sync.Mutex
		l  *list.List               // unmapped resident block IDs, most recently used first
		at map[uint64]*list.Element // ID → its element
	}

	kick chan struct{} // wakes the mover (capacity 1)
	stop chan struct{} // closed by stopTiering
	done chan struct{} // closed when the mover returns

	demotions, promotions, placements atomic.Uint64
	demotedB, promotedB               atomic.Uint64
}

func newTiering(t Tier, frames, low, high uint64) *tiering {
	if low == 0 {
		low = max(1, frames/8)
	}
	if high <= low {
		high = min(frames, max(low+1, frames/4))
	}
	tg := &tiering{tier: t, low: low, high: high,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	tg.lru.l = list.New()
	tg.lru.at = make(map[uint64]*list.Element)
	return tg
}

// touch records that id was just unmapped (or found resident at start):
// it becomes the most recently used candidate.
func (tg *tiering) touch(id uint64) {
	if tg == nil {
		return
	}
	tg.lru.Lock()
	defer tg.lru.Unlock()
	if e, ok := tg.lru.at[id]; ok {
		tg.lru.l.MoveToFront(e)
		return
	}
	tg.lru.at[id] = tg.lru.l.PushFront(id)
}

// forget drops id from the candidates (mapped, moved or freed).
func (tg *tiering) forget(id uint64) {
	if tg == nil {
		return
	}
	tg.lru.Lock()
	defer tg.lru.Unlock()
	if e, ok := tg.lru.at[id]; ok {
		tg.lru.l.Remove(e)
		delete(tg.lru.at, id)
	}
}

// coldest returns up to n candidate IDs, least recently used first.
func (tg *tiering) coldest(n int) []uint64 {
	tg.lru.Lock()
	defer tg.lru.Unlock()
	out := make([]uint64, 0, min(n, tg.lru.l.Len()))
	for e := tg.lru.l.Back(); e != nil && len(out) < n; e = e.Prev() {
		out = append(out, e.Value.(uint64))
	}
	return out
}

// initTiering checks the tier against the region and the store, seeds the
// candidates and starts the mover.
func (s *Server) initTiering(cfg Config) error {
	if cfg.Tier.UUID() != s.region.UUID() {
		return fmt.Errorf("brick: the tier belongs to brick %x, the pmem region to brick %x; refusing to serve", cfg.Tier.UUID(), s.region.UUID())
	}
	if st := s.store.Stats(); st.Slots != cfg.Tier.Slots() {
		return fmt.Errorf("brick: the tier has %d slots but the metadata store was opened with %d", cfg.Tier.Slots(), st.Slots)
	}
	s.tiering = newTiering(cfg.Tier, s.region.Frames(), cfg.TierLowWater, cfg.TierHighWater)
	tg := s.tiering
	s.store.Walk(0, alloc2m.MaxID, func(b alloc2m.Block) bool {
		if b.Resident() {
			tg.lru.at[b.ID] = tg.lru.l.PushFront(b.ID) // no maps yet; ID order
		}
		return true
	})
	go s.mover()
	tg.kick <- struct{}{}
	return nil
}

// stopTiering stops the mover and waits for its move in progress.
func (s *Server) stopTiering() {
	if tg := s.tiering; tg != nil {
		select {
		case <-tg.stop:
		default:
			close(tg.stop)
		}
		<-tg.done
	}
}

// mover demotes the coldest unmapped blocks whenever free frames fall
// below the low watermark, until they reach the high one.
func (s *Server) mover() {
	tg := s.tiering
	defer close(tg.done)
	for {
		select {
		case <-tg.stop:
			return
		case <-tg.kick:
		}
		for s.store.Stats().FreeFrames < tg.high {
			select {
			case <-tg.stop:
				return
			default:
			}
			if err := s.demoteOne(); err != nil {
				if !errors.Is(err, errNoVictim) && !errors.Is(err, alloc2m.ErrNoSpace) {
					s.log.Error("background demotion failed", "err", err)
				}
				break
			}
		}
	}
}

// maybeKick wakes the mover if free frames are below the low watermark.
func (s *Server) maybeKick() {
	tg := s.tiering
	if tg == nil || s.store.Stats().FreeFrames >= tg.low {
		return
	}
	select {
	case tg.kick <- struct{}{}:
	default:
	}
}

// resident makes block b (Looked up under id's stripe lock, which the
// caller holds) resident, so that it can be mapped: a block in a frame is
// returned as is, a never-placed block gets a zeroed frame, a tiered block
// is promoted. Map calls it after its own checks; rw says the map is
// read-write, so a placement carries the read-write mark.
func (s *Server) resident(id uint64, b alloc2m.Block, rw bool) (alloc2m.Block, error) {
	if b.Resident() {
		// Left among the demotion candidates: a mover that meets it mapped
		// drops it, and a failed Map leaves it a candidate as it should.
		return b, nil
	}
	if b.Loc.Kind == alloc2m.Nowhere {
		// A zeroed frame, and for a read-write map the durable mark in the
		// same commit as the placement.
		frame, prepare, err := s.zeroedFrame(id)
		if err != nil {
			return alloc2m.Block{}, fmt.Errorf("block %#x needs a pmem frame: %w", id, err)
		}
		defer s.maybeKick()
		place := s.store.Place
		if rw {
			place = s.store.PlaceRW
		}
		nb, err := place(id, frame, prepare)
		if err == nil {
			s.tiering.placed()
		}
		return nb, err
	}
	frame, err := s.freeFrame(id)
	if err != nil {
		return alloc2m.Block{}, fmt.Errorf("block %#x needs a pmem frame: %w", id, err)
	}
	defer s.maybeKick()
	start := time.Now()
	nb, _, err := s.store.Relocate(id, frame, false, func(b alloc2m.Block) error {
		if !b.Tiered() {
			return fmt.Errorf("block %#x moved to %v behind its lock", id, b.Loc)
		}
		buf := s.region.Frame(frame.Index)
		if err := s.tiering.tier.Read(b.Loc.Index, buf); err != nil {
			return err
		}
		return s.region.Flush(buf)
	})
	if err != nil {
		return alloc2m.Block{}, fmt.Errorf("brick: promoting block %#x: %w", id, err)
	}
	s.tiering.promotions.Add(1)
	s.tiering.promotedB.Add(alloc2m.BlockSize)
	s.metrics.moved("promote", time.Since(start))
	return nb, nil
}

func (tg *tiering) placed() {
	if tg != nil {
		tg.placements.Add(1)
	}
}

// freeFrame reserves a frame for block self (whose stripe the caller
// holds), demoting the coldest unmapped block if none is free.
func (s *Server) freeFrame(self uint64) (alloc2m.Location, error) {
	f, err := s.store.ReserveFrame()
	if err == nil {
		return alloc2m.FrameLoc(f), nil
	}
	if !errors.Is(err, alloc2m.ErrNoSpace) {
		return alloc2m.Location{}, err
	}
	if s.tiering == nil {
		return alloc2m.Location{}, fmt.Errorf("%w: every pmem frame is in use and the brick has no tier", protocol.ErrNoSpace)
	}
	tg := s.tiering
	tg.roomMu.Lock()
	defer tg.roomMu.Unlock()
	// A demotion that held roomMu while we waited may have freed one.
	if f, err := s.store.ReserveFrame(); err == nil {
		return alloc2m.FrameLoc(f), nil
	}
	loc, err := s.demoteColdestLocked(self, true, true)
	switch {
	case errors.Is(err, errNoVictim):
		return alloc2m.Location{}, fmt.Errorf("%w: every pmem frame holds a mapped block (or one being moved); unmap a block and retry", protocol.ErrBusy)
	case errors.Is(err, alloc2m.ErrNoSpace):
		return alloc2m.Location{}, fmt.Errorf("%w: every pmem frame is in use and the tier is full", protocol.ErrNoSpace)
	}
	return loc, err
}

// demoteOne demotes the coldest unmapped resident block it can lock, for
// the mover.
func (s *Server) demoteOne() error {
	s.tiering.roomMu.Lock()
	defer s.tiering.roomMu.Unlock()
	_, err := s.demoteColdestLocked(0, false, false)
	return err
}

// demoteColdestLocked demotes the coldest unmapped resident block it can
// lock; roomMu is held. The caller holds the stripe of block self if
// haveSelf. With keep, the freed frame is returned still reserved, for the
// caller.
func (s *Server) demoteColdestLocked(self uint64, haveSelf, keep bool) (alloc2m.Location, error) {
	tg := s.tiering
	for _, v := range tg.coldest(victims) {
		mu := s.stripe(v)
		held := haveSelf && mu == s.stripe(self)
		if !held && !mu.TryLock() {
			continue // a verb on that stripe is in progress
		}
		loc, err := s.demoteLocked(v, keep)
		if !held {
			mu.Unlock()
		}
		if errors.Is(err, errSkip) {
			continue
		}
		return loc, err
	}
	return alloc2m.Location{}, errNoVictim
}

// errSkip: the candidate is no longer an unmapped resident block.
var errSkip = errors.New("not a demotion candidate")

// demoteLocked copies resident block v to a free slot and commits it
// there. v's stripe and roomMu are held.
func (s *Server) demoteLocked(v uint64, keep bool) (alloc2m.Location, error) {
	tg := s.tiering
	s.mu.Lock()
	mapped := len(s.mu.maps[v]) > 0
	s.mu.Unlock()
	b, err := s.store.Lookup(v)
	if mapped || err != nil || !b.Resident() {
		tg.forget(v)
		return alloc2m.Location{}, errSkip
	}
	slot, err := s.store.ReserveSlot()
	if err != nil {
		return alloc2m.Location{}, err
	}
	start := time.Now()
	_, old, err := s.store.Relocate(v, alloc2m.SlotLoc(slot), keep, func(b alloc2m.Block) error {
		return tg.tier.Write(slot, s.region.Frame(b.Frame))
	})
	if err != nil {
		return alloc2m.Location{}, fmt.Errorf("brick: demoting block %#x: %w", v, err)
	}
	tg.forget(v)
	tg.demotions.Add(1)
	tg.demotedB.Add(alloc2m.BlockSize)
	s.metrics.moved("demote", time.Since(start))
	return old, nil
}
