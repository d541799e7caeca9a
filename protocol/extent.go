package protocol

// The List verb: its messages, and the extents they carry.

// ExtentState is the state of a run of blocks in a ListReply.
type ExtentState uint8

// Extent states. The numbers are part of the wire protocol.
const (
	StateResident ExtentState = 1 // allocated, in pmem, not mapped
	StateMappedRO ExtentState = 2 // mapped read-only by some session
	StateMappedRW ExtentState = 3 // mapped read-write by some session
	StateUnclean  ExtentState = 4 // was mapped read-write at an unclean shutdown
	StateTiered   ExtentState = 5 // on the slow tier
)

var extentStateNames = [...]string{
	StateResident: "resident",
	StateMappedRO: "mapped-ro",
	StateMappedRW: "mapped-rw",
	StateUnclean:  "unclean",
	StateTiered:   "tiered",
}

func (s ExtentState) String() string { return enumName(extentStateNames[:], s, "unknown") }

// ListRequest asks for the extents with First ≤ ID ≤ Last, at most Max.
type ListRequest struct {
	First, Last uint64
	Max         uint32
}

func (*ListRequest) Type() Type { return TypeList }
func (*ListRequest) size() int  { return listRequestSize }
func (m *ListRequest) marshal(b []byte) {
	be.PutUint64(b[0:], m.First)
	be.PutUint64(b[8:], m.Last)
	be.PutUint32(b[16:], m.Max)
}
func (m *ListRequest) unmarshal(b []byte) error {
	if err := checkLen(b, listRequestSize); err != nil {
		return err
	}
	m.First = be.Uint64(b[0:])
	m.Last = be.Uint64(b[8:])
	m.Max = be.Uint32(b[16:])
	return nil
}

// Extent is a run of Blocks consecutive allocated IDs from First in one state.
type Extent struct {
	First  uint64
	Blocks uint64
	State  ExtentState
}

// ListReply carries extents in ascending order. When More is set, the
// client asks again from Next.
type ListReply struct {
	Extents []Extent
	More    bool
	Next    uint64
}

func (*ListReply) Type() Type  { return TypeList | ReplyBit }
func (m *ListReply) size() int { return listReplyHead + extentSize*len(m.Extents) }
func (m *ListReply) marshal(b []byte) {
	be.PutUint32(b[0:], uint32(len(m.Extents)))
	var flags uint32
	if m.More {
		flags |= 1
	}
	be.PutUint32(b[4:], flags)
	be.PutUint64(b[8:], m.Next)
	for i, e := range m.Extents {
		x := b[listReplyHead+i*extentSize:][:extentSize]
		be.PutUint64(x[0:], e.First)
		be.PutUint64(x[8:], e.Blocks)
		clear(x[16:])
		x[16] = uint8(e.State)
	}
}
func (m *ListReply) unmarshal(b []byte) error {
	if len(b) < listReplyHead {
		return ErrShort
	}
	n := be.Uint32(b[0:])
	if n > MaxExtentsPerList {
		return ErrTooLarge
	}
	if err := checkLen(b, listReplyHead+int(n)*extentSize); err != nil {
		return err
	}
	flags := be.Uint32(b[4:])
	if flags&^1 != 0 {
		return ErrFlags
	}
	m.More = flags&1 != 0
	m.Next = be.Uint64(b[8:])
	m.Extents = make([]Extent, n)
	for i := range m.Extents {
		x := b[listReplyHead+i*extentSize:][:extentSize]
		m.Extents[i] = Extent{First: be.Uint64(x[0:]), Blocks: be.Uint64(x[8:]), State: ExtentState(x[16])}
	}
	return nil
}

// Coalesce appends e to extents, merging it into the last extent when it
// continues it: the same state, starting at the block right after it. It
// reports false, appending nothing, when e would start a new extent and
// extents already holds max of them (max ≤ 0: no limit). The brick builds
// a List reply with it block by block, the client joins a run split across
// two replies with it, and `brickctl list --meta` uses it offline.
func Coalesce(extents []Extent, e Extent, max int) ([]Extent, bool) {
	if n := len(extents); n > 0 {
		last := &extents[n-1]
		if last.State == e.State && last.First+last.Blocks*BlockSize == e.First {
			last.Blocks += e.Blocks
			return extents, true
		}
		if max > 0 && n >= max {
			return extents, false
		}
	}
	return append(extents, e), true
}
