package verbs

// Slots is a registered slab of equal message slots: the buffers a
// session posts receives into, or sends messages from, named by index.
// Which slots are free is the owner's business (a brick reaps its send CQ
// under a lock, a client hands slots round on a channel); Slots only
// keeps the memory, its registration and the arithmetic in one place.
type Slots struct {
	mem  []byte
	mr   MR
	size int
}

// NewSlots allocates n slots of size bytes with AllocMemory and registers
// them with pd for access.
func NewSlots(pd PD, n, size int, access Access) (*Slots, error) {
	mem, err := AllocMemory(n * size)
	if err != nil {
		return nil, err
	}
	mr, err := pd.Register(mem, access)
	if err != nil {
		FreeMemory(mem)
		return nil, err
	}
	return &Slots{mem: mem, mr: mr, size: size}, nil
}

// Buf is slot i's memory, Size bytes long.
func (s *Slots) Buf(i int) []byte { return s.mem[i*s.size:][:s.size] }

// Size is the bytes in each slot.
func (s *Slots) Size() int { return s.size }

// SGE describes the first n bytes of slot i.
func (s *Slots) SGE(i, n int) SGE { return SGEOf(s.mr, i*s.size, n) }

// RecvWR is a receive into all of slot i, with the slot as its ID.
func (s *Slots) RecvWR(i int) RecvWR { return RecvWR{ID: uint64(i), Local: s.SGE(i, s.size)} }

// Free deregisters the slots and frees their memory. A nil or freed
// Slots is nothing to free.
func (s *Slots) Free() {
	if s == nil || s.mr == nil {
		return
	}
	s.mr.Deregister()
	FreeMemory(s.mem)
	s.mem, s.mr = nil, nil
}
