package protocol

// StatusRequest asks for the brick's status.
type StatusRequest struct{}

func (*StatusRequest) Type() Type               { return TypeStatus }
func (*StatusRequest) size() int                { return 0 }
func (*StatusRequest) marshal([]byte)           {}
func (*StatusRequest) unmarshal(b []byte) error { return checkLen(b, 0) }

// StatusReply describes the brick. The fields after UUID are its
// persistence posture (package persist computes them; the enums are in
// posture.go).
type StatusReply struct {
	Frames, FreeFrames, Blocks, Mapped, Unclean uint64
	Sessions                                    uint32
	Backend                                     Backend
	Persistent                                  bool
	Methods                                     PersistMethods
	CPUFlush                                    CPUFlush
	UUID                                        [16]byte

	Domain         Domain // effective persistence domain of the brick's memory
	PlatformDomain Domain // what the platform's NVDIMM regions report
	DDIOPolicy     DDIOPolicy
	// SoftwareRNIC: sessions arrive on the software RNIC; SoftwareDDIO is
	// the DDIO state used for them.
	SoftwareRNIC bool
	SoftwareDDIO DDIOState
	// Capabilities: how the memory is made durable, whatever Backend is.
	Capabilities Capability
	Devices      []DDIODevice // at most MaxStatusDevices

	// The slow tier (a trailer after the devices): its slots, how many are
	// free, and the blocks on it. All zero without a tier.
	TierSlots, TierFreeSlots, Tiered uint64
}

// BlockCapacity is how many blocks the brick admits: a new block takes no
// frame until its first map, so this counts frames, plus tier slots less
// the one the brick holds back for crash-safe moves (alloc2m's capacity).
// An alloc fails with ErrNoSpace once Blocks reaches it, whatever
// FreeFrames says.
func (m *StatusReply) BlockCapacity() uint64 {
	if m.TierSlots == 0 {
		return m.Frames
	}
	return m.Frames + m.TierSlots - 1
}

// BlockRoom is how many more blocks the brick admits now.
func (m *StatusReply) BlockRoom() uint64 { return m.BlockCapacity() - min(m.Blocks, m.BlockCapacity()) }

// DDIODevice is one RDMA device's DDIO state in a StatusReply.
type DDIODevice struct {
	Name     string // at most 64 bytes (longer is cut)
	PCI      string // PCI function, at most 16 bytes
	RootPort string // root port, at most 16 bytes
	Platform Platform
	State    DDIOState
	Reason   DDIOReason
}

func (*StatusReply) Type() Type { return TypeStatus | ReplyBit }
func (m *StatusReply) size() int {
	return statusReplyHead + ddioDeviceSize*min(len(m.Devices), MaxStatusDevices) + statusTierSize
}
func (m *StatusReply) marshal(b []byte) {
	be.PutUint64(b[0:], m.Frames)
	be.PutUint64(b[8:], m.FreeFrames)
	be.PutUint64(b[16:], m.Blocks)
	be.PutUint64(b[24:], m.Mapped)
	be.PutUint64(b[32:], m.Unclean)
	be.PutUint32(b[40:], m.Sessions)
	b[44] = uint8(m.Backend)
	b[45] = boolByte(m.Persistent)
	b[46] = uint8(m.Methods)
	b[47] = uint8(m.CPUFlush)
	copy(b[48:64], m.UUID[:])
	h := b[statusReplyBase:statusReplyHead]
	h[0], h[1], h[2] = uint8(m.Domain), uint8(m.PlatformDomain), uint8(m.DDIOPolicy)
	h[3], h[4], h[5] = boolByte(m.SoftwareRNIC), uint8(m.SoftwareDDIO), uint8(m.Capabilities)
	n := min(len(m.Devices), MaxStatusDevices)
	be.PutUint16(h[6:], uint16(n))
	for i, d := range m.Devices[:n] {
		x := b[statusReplyHead+i*ddioDeviceSize:][:ddioDeviceSize]
		clear(x)
		copy(x[0:ddioNameSize], d.Name)
		copy(x[ddioNameSize:][:pciAddrSize], d.PCI)
		copy(x[ddioNameSize+pciAddrSize:][:pciAddrSize], d.RootPort)
		x[96], x[97], x[98] = uint8(d.Platform), uint8(d.State), uint8(d.Reason)
	}
	t := b[statusReplyHead+n*ddioDeviceSize:][:statusTierSize]
	be.PutUint64(t[0:], m.TierSlots)
	be.PutUint64(t[8:], m.TierFreeSlots)
	be.PutUint64(t[16:], m.Tiered)
}
func (m *StatusReply) unmarshal(b []byte) error {
	if len(b) < statusReplyHead {
		return ErrShort
	}
	n := int(be.Uint16(b[statusReplyBase+6:]))
	if n > MaxStatusDevices {
		return ErrTooLarge
	}
	if err := checkLen(b, statusReplyHead+n*ddioDeviceSize+statusTierSize); err != nil {
		return err
	}
	m.Frames = be.Uint64(b[0:])
	m.FreeFrames = be.Uint64(b[8:])
	m.Blocks = be.Uint64(b[16:])
	m.Mapped = be.Uint64(b[24:])
	m.Unclean = be.Uint64(b[32:])
	m.Sessions = be.Uint32(b[40:])
	m.Backend = Backend(b[44])
	m.Persistent = b[45] != 0
	m.Methods = PersistMethods(b[46])
	m.CPUFlush = CPUFlush(b[47])
	copy(m.UUID[:], b[48:64])
	h := b[statusReplyBase:statusReplyHead]
	m.Domain, m.PlatformDomain, m.DDIOPolicy = Domain(h[0]), Domain(h[1]), DDIOPolicy(h[2])
	m.SoftwareRNIC, m.SoftwareDDIO = h[3] != 0, DDIOState(h[4])
	m.Capabilities = Capability(h[5])
	m.Devices = nil
	if n > 0 {
		m.Devices = make([]DDIODevice, n)
	}
	for i := range m.Devices {
		x := b[statusReplyHead+i*ddioDeviceSize:][:ddioDeviceSize]
		m.Devices[i] = DDIODevice{
			Name:     cString(x[0:ddioNameSize]),
			PCI:      cString(x[ddioNameSize:][:pciAddrSize]),
			RootPort: cString(x[ddioNameSize+pciAddrSize:][:pciAddrSize]),
			Platform: Platform(x[96]), State: DDIOState(x[97]), Reason: DDIOReason(x[98]),
		}
	}
	t := b[statusReplyHead+n*ddioDeviceSize:][:statusTierSize]
	m.TierSlots = be.Uint64(t[0:])
	m.TierFreeSlots = be.Uint64(t[8:])
	m.Tiered = be.Uint64(t[16:])
	return nil
}
