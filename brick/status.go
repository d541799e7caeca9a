package brick

import (
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
)

// A block occupies one pmem frame: pmem's frame (its on-media unit, recorded
// in the superblock) must be the protocol's block. Either difference being
// negative would not compile as a uint.
const _ = uint(pmem.FrameSize-protocol.BlockSize) + uint(protocol.BlockSize-pmem.FrameSize)

// Status describes the brick.
func (s *Server) Status() *protocol.StatusReply {
	st := s.store.Stats()
	s.mu.Lock()
	mapped, sessions := len(s.mu.maps), len(s.mu.sessions)
	s.mu.Unlock()
	props := s.region.Properties()
	r := &protocol.StatusReply{
		Frames: st.Frames, FreeFrames: st.FreeFrames, Blocks: st.Blocks, Unclean: st.Unclean,
		Mapped: uint64(mapped), Sessions: uint32(sessions),
		Persistent: s.region.Persistent(), UUID: s.region.UUID(),
		Backend: backendOf(s.region.Kind()), Capabilities: capabilitiesOf(props),
		CPUFlush: protocol.CPUFlushOf(props.CPUFlush),
	}
	s.posture.Fill(r) // methods offered, domain, DDIO per device
	r.TierSlots, r.TierFreeSlots, r.Tiered = st.Slots, st.FreeSlots, st.Tiered
	return r
}

// backends are the wire names of the backends pmem.Open can choose.
var backends = map[pmem.Kind]protocol.Backend{
	pmem.KindFile:      protocol.BackendFile,
	pmem.KindAnonymous: protocol.BackendAnonymous,
	pmem.KindFSDAX:     protocol.BackendFSDAX,
	pmem.KindDevDAX:    protocol.BackendDevDAX,
}

// backendOf is k's wire name; BackendOther for any other region (the
// capabilities describe it).
func backendOf(k pmem.Kind) protocol.Backend {
	if b, ok := backends[k]; ok {
		return b
	}
	return protocol.BackendOther
}

// capabilitiesOf says how the region's memory is made durable.
func capabilitiesOf(p pmem.Properties) protocol.Capability {
	var c protocol.Capability
	switch p.FlushMethod {
	case pmem.FlushCPU:
		c |= protocol.CapCPUFlush
	case pmem.FlushMsync:
		c |= protocol.CapMsync
	}
	if !p.Persistent {
		c |= protocol.CapVolatile
	}
	return c
}
