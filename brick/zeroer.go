package brick

import (
	"errors"
	"sync"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/verbs"
)

// cleanTarget is how many zeroed frames the brick keeps ready for first
// Maps: enough for every session of a busy brick to place a block without
// waiting for a zeroing, and for the zeroer to refill the pool in large
// batches while the other half still serves.
const cleanTarget = 128

// zeroBatch is how many frames the zeroer zeroes before it flushes them
// (zeroFrames). On a file image the flush is a data sync of the image,
// a device cache flush that competes with the metadata store's log
// syncs: batches of 64 instead of 16 raised 64 sessions' alloc-map/free
// cycles from about 17,000/s to 21,700/s, about what skipping the zeroing
// altogether gave (docs/benchmarks.md, 2026-11-27).
const zeroBatch = 64

// batchLimit is how many frames one batch may take when free frames
// (pooled and being zeroed included) are free: at most half of them, so
// that on a small or nearly full brick a first Map still finds dirty
// frames to zero itself instead of waiting for a whole batch.
func batchLimit(free uint64) int {
	return int(max(1, min(zeroBatch, free/2)))
}

// zeroGather is how long the zeroer lets freed frames gather before a
// batch while the clean pool is at least half full. Frees arrive one at a
// time; without the pause most batches held a frame or two, each paying
// a sync of its own. A first Map is not kept waiting: it takes a pooled
// frame.
const zeroGather = 2 * time.Millisecond

// zeroer refills the store's pool of clean frames (alloc2m/clean.go) in the
// background, so that a block's first Map finds its frame already zero and
// durable instead of zeroing 2 MiB before it can reply. It runs while there
// is work (after an Alloc or a Free) and exits when the pool is full or no
// dirty frame is free; Close waits for it.
//
// Frames are zeroed in batches (zeroFrames). On a file image, while no
// session on a hardware RNIC has been prepared, a frame is zeroed by its
// extents (pmem.ExtentZeroer): no 2 MiB scan, and one SyncExtents commits
// the batch's extent changes. Otherwise stores zero it, and one Flush per
// run of adjacent frames makes the batch durable. A
// hardware session registers every frame for its memory windows, pinning
// the pages, which an extent change would detach; from the first one on,
// frames are zeroed as a first Map would (stores where the frame is not
// zero, then the flush). Zeroing by extents with a sync per frame would
// cost an ext4 journal commit per frame, slower than the scan.
type zeroer struct {
	// stop is closed by Close (under mu): no refill starts after it, and
	// a gathering pause ends. New makes it.
	stop chan struct{}
	mu   struct {
		sync.Mutex
		running bool // a refill goroutine is running
	}
	wg sync.WaitGroup

	// pin is held for reading across extent zeroings and for writing to
	// set hardware, so that none overlaps the registrations of the first
	// hardware session.
	pin struct {
		sync.RWMutex
		hardware bool // a session on a hardware RNIC has been prepared
	}
}

// refill starts the zeroer unless it is running or the brick is closing.
func (s *Server) refill() {
	z := &s.zero
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.mu.running || z.stopped() {
		return
	}
	z.mu.running = true
	z.wg.Add(1)
	go s.zeroLoop()
}

// stopped reports whether Close has stopped the zeroer.
func (z *zeroer) stopped() bool {
	select {
	case <-z.stop:
		return true
	default:
		return false
	}
}

func (s *Server) zeroLoop() {
	z := &s.zero
	defer z.wg.Done()
	batch := make([]uint64, 0, zeroBatch)
	gather := time.NewTimer(zeroGather)
	defer gather.Stop()
	for {
		// On a brick with fewer free frames than cleanTarget the pool can
		// never reach it: half the free frames is enough to pause for.
		if st := s.store.Stats(); st.CleanFrames >= min(cleanTarget, st.FreeFrames)/2 {
			gather.Reset(zeroGather)
			select {
			case <-gather.C:
			case <-z.stop:
			}
		}
		closed := z.stopped()
		batch = batch[:0]
		limit := batchLimit(s.store.Stats().FreeFrames)
		for !closed && len(batch) < limit {
			f, ok := s.store.ReserveDirty(cleanTarget)
			if !ok {
				break
			}
			batch = append(batch, f)
		}
		if len(batch) == 0 {
			z.mu.Lock()
			z.mu.running = false
			z.mu.Unlock()
			return
		}
		if err := s.zeroFrames(batch); err != nil {
			for _, f := range batch {
				s.store.DropDirty(f)
			}
			s.log.Error("zeroing free pmem frames ahead of their use failed; first maps zero their frames themselves", "frames", batch, "err", err)
			z.mu.Lock()
			z.mu.running = false
			z.mu.Unlock()
			return
		}
		for _, f := range batch {
			s.store.PutClean(f)
		}
	}
}

// zeroFrames makes frames zero and durable as zeroFrame does. Frames zeroed
// by their extents are made durable together, with one SyncExtents; frames
// zeroed by stores with one Flush per run of frames adjacent in memory: on
// a file either is one device cache flush for many frames instead of one
// per frame.
func (s *Server) zeroFrames(frames []uint64) error {
	stored, synced, err := s.zeroFramesLocal(frames)
	if err != nil {
		return err
	}
	if synced != nil {
		if err := synced.SyncExtents(); err != nil {
			return err
		}
	}
	for i := 0; i < len(stored); {
		j := i + 1
		for j < len(stored) && stored[j] == stored[j-1]+1 {
			j++
		}
		// Consecutive frames are adjacent in DataSpan (pmem.Region's contract).
		run := s.region.DataSpan()[stored[i]*pmem.FrameSize : stored[j-1]*pmem.FrameSize+pmem.FrameSize]
		if err := s.region.Flush(run); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// zeroFramesLocal zeroes frames in memory or in the file's extents. It
// returns the frames zeroed by stores, which the caller flushes, and the
// zeroer to sync if any frame was zeroed by its extents.
func (s *Server) zeroFramesLocal(frames []uint64) (stored []uint64, synced pmem.ExtentZeroer, err error) {
	z := &s.zero
	z.pin.RLock()
	defer z.pin.RUnlock()
	ez, extents := s.region.(pmem.ExtentZeroer)
	extents = extents && !z.pin.hardware
	for i, f := range frames {
		if extents {
			ok, err := ez.ZeroExtents(f)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				synced = ez
				continue
			}
			extents = false // not on this region: store zeros from now on
		}
		if stored == nil {
			stored = make([]uint64, 0, len(frames)-i)
		}
		if b := s.region.Frame(f); !isZero(b) {
			clear(b)
		}
		stored = append(stored, f)
	}
	return stored, synced, nil
}

// noteQP is told of every session's queue pair before the session
// registers anything: one on a hardware RNIC may pin every frame, so from
// then on frames are zeroed by stores, not by their extents (see zeroer).
func (s *Server) noteQP(qp verbs.QP) {
	if qp.Device().Software {
		return
	}
	z := &s.zero
	z.pin.Lock()
	z.pin.hardware = true
	z.pin.Unlock()
}

// stopZeroer waits for a refill in progress and starts no other.
func (s *Server) stopZeroer() {
	z := &s.zero
	z.mu.Lock()
	if z.stop != nil && !z.stopped() {
		close(z.stop)
	}
	z.mu.Unlock()
	z.wg.Wait()
}

// zeroedFrame reserves a frame for a block's first placement, the lowest
// free one as ever: if it is from the clean pool, prepare is nil, else it is
// the zeroing Place must run first.
func (s *Server) zeroedFrame(id uint64) (alloc2m.Location, func(uint64) error, error) {
	defer s.refill()
	f, clean, err := s.store.ReserveFrameClean()
	switch {
	case err == nil && clean:
		return alloc2m.FrameLoc(f), nil, nil
	case err == nil:
		return alloc2m.FrameLoc(f), s.zeroFrame, nil
	case !errors.Is(err, alloc2m.ErrNoSpace):
		return alloc2m.Location{}, nil, err
	}
	frame, err := s.freeFrame(id) // demotes a block to make room
	return frame, s.zeroFrame, err
}
