package brick

import (
	"errors"
	"fmt"

	"github.com/brick-storage/brick/protocol"
)

// LogEveryWarning lifts the rate limit of warnings about peers, for tests
// that wait for each of several lines of one kind. Call it before Serve.
func (s *Server) LogEveryWarning() { s.warns.every = 0 }

// Demote moves unmapped resident block id to the slow tier now, for tests
// and benchmarks that need a tiered block. Nothing outside them asks for a
// demotion: the brick demotes on its own under frame pressure.
func (s *Server) Demote(id uint64) error {
	if s.tiering == nil {
		return fmt.Errorf("%w: the brick has no tier", protocol.ErrNotSupported)
	}
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	b, err := s.store.Lookup(id)
	if err != nil {
		return err
	}
	if b.Tiered() {
		return nil
	}
	if !b.Resident() {
		return fmt.Errorf("%w: block %#x has never been mapped; it occupies no frame", protocol.ErrInvalid, id)
	}
	s.tiering.roomMu.Lock()
	defer s.tiering.roomMu.Unlock()
	_, err = s.demoteLocked(id, false)
	if errors.Is(err, errSkip) {
		return fmt.Errorf("%w: block %#x is mapped", protocol.ErrBusy, id)
	}
	return err
}

// TierStats are the slow tier's counters since start.
type TierStats struct {
	Slots, FreeSlots, Tiered          uint64
	Demotions, Promotions, Placements uint64
	DemotedBytes, PromotedBytes       uint64
	LowWater, HighWater               uint64 // free-frame watermarks
}

// TierStats reports the slow tier; zero without one.
func (s *Server) TierStats() TierStats {
	tg := s.tiering
	if tg == nil {
		return TierStats{}
	}
	st := s.store.Stats()
	return TierStats{
		Slots: st.Slots, FreeSlots: st.FreeSlots, Tiered: st.Tiered,
		Demotions: tg.demotions.Load(), Promotions: tg.promotions.Load(), Placements: tg.placements.Load(),
		DemotedBytes: tg.demotedB.Load(), PromotedBytes: tg.promotedB.Load(),
		LowWater: tg.low, HighWater: tg.high,
	}
}
