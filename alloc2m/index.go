package alloc2m

import (
	"math"
	"sort"

	"github.com/RaduBerinde/btreemap"
)

// index maps block ID → record for Store.mu.blocks. It is two sets whose
// keys never overlap:
//
//   - base: the records Open read, in ID order, as three parallel arrays
//     (13 bytes a block, no pointers for the garbage collector to scan).
//     Open appends to them in the order Pebble returns the keys, which is
//     ID order, so loading a million blocks is a million appends, not a
//     million tree inserts.
//   - hot: a B-tree of *record for every block created or touched since.
//
// The store's operations hold a *record across the unlocked commit and
// change it in place, so a record must not move while they do; base
// entries cannot give that. The first Get of a base entry therefore moves
// it to hot (and marks the base entry gone), and the caller gets a pointer
// that stays put. Blocks no verb touches — most of a large brick — cost
// their 13 bytes; a touched block costs a tree entry and a record (about
// 64 B). Gone base entries are not reclaimed: the arrays
// only shrink at the next Open.
//
// Its methods are the subset of btreemap's the store uses, so the
// store's operations read as if the index were a plain B-tree. Guarded by
// Store.mu like the rest of mu.
type index struct {
	ids  []uint64 // base IDs, ascending
	locs []uint32 // frame or slot index of each base entry
	bits []uint8  // kind | baseMarkedRW | baseUnclean | baseGone
	live int      // base entries not gone
	hot  *btreemap.BTreeMap[uint64, *record]
}

const (
	baseKindMask = 0x3
	baseMarkedRW = 1 << 2
	baseUnclean  = 1 << 3
	baseGone     = 1 << 7
)

func newIndex() *index {
	return &index{hot: btreemap.New[uint64, *record](32, cmpU64)}
}

// load adds a committed record read at Open. IDs must come in ascending
// order (a record out of order, or one whose index does not fit the base,
// goes to hot).
func (x *index) load(id uint64, r record) {
	if n := len(x.ids); (n > 0 && x.ids[n-1] >= id) || r.loc.Index > math.MaxUint32 || r.state != stateLive {
		x.ReplaceOrInsert(id, &r)
		return
	}
	b := uint8(r.loc.Kind) & baseKindMask
	if r.flags&flagMarkedRW != 0 {
		b |= baseMarkedRW
	}
	if r.unclean {
		b |= baseUnclean
	}
	x.ids = append(x.ids, id)
	x.locs = append(x.locs, uint32(r.loc.Index))
	x.bits = append(x.bits, b)
	x.live++
}

// trim drops the spare capacity append left in the base arrays.
func (x *index) trim() {
	if cap(x.ids) > len(x.ids)+len(x.ids)/16 {
		x.ids = append([]uint64(nil), x.ids...)
		x.locs = append([]uint32(nil), x.locs...)
		x.bits = append([]uint8(nil), x.bits...)
	}
}

// baseRecord decodes base entry i.
func (x *index) baseRecord(i int) record {
	b := x.bits[i]
	r := record{loc: Location{Kind: LocKind(b & baseKindMask)}, unclean: b&baseUnclean != 0}
	if r.loc.Kind != Nowhere {
		r.loc.Index = uint64(x.locs[i])
	}
	if b&baseMarkedRW != 0 {
		r.flags = flagMarkedRW
	}
	return r
}

// find returns the position of a live base entry with ID id.
func (x *index) find(id uint64) (int, bool) {
	i := sort.Search(len(x.ids), func(i int) bool { return x.ids[i] >= id })
	if i < len(x.ids) && x.ids[i] == id && x.bits[i]&baseGone == 0 {
		return i, true
	}
	return i, false
}

// Get returns the record of id, moving it from base to hot so that the
// pointer stays valid.
func (x *index) Get(id uint64) (uint64, *record, bool) {
	if k, r, ok := x.hot.Get(id); ok {
		return k, r, true
	}
	i, ok := x.find(id)
	if !ok {
		return 0, nil, false
	}
	r := x.baseRecord(i)
	x.bits[i] |= baseGone
	x.live--
	x.hot.ReplaceOrInsert(id, &r)
	return id, &r, true
}

// ReplaceOrInsert sets id's record.
func (x *index) ReplaceOrInsert(id uint64, r *record) {
	if i, ok := x.find(id); ok {
		x.bits[i] |= baseGone
		x.live--
	}
	x.hot.ReplaceOrInsert(id, r)
}

// Delete removes id.
func (x *index) Delete(id uint64) {
	if _, _, ok := x.hot.Delete(id); ok {
		return
	}
	if i, ok := x.find(id); ok {
		x.bits[i] |= baseGone
		x.live--
	}
}

// Len is the number of records.
func (x *index) Len() int { return x.live + x.hot.Len() }

// ascend calls fn for every record with first ≤ ID ≤ last in ascending ID
// order until fn returns false. A base entry is passed as a copy: fn may
// read the record but must not keep the pointer or change it.
func (x *index) ascend(first, last uint64, fn func(id uint64, r *record) bool) {
	if first > last {
		return
	}
	i := sort.Search(len(x.ids), func(i int) bool { return x.ids[i] >= first })
	var r record // the copy base entries are passed in, one per walk
	// emit passes the base entries below limit (inclusive when incl).
	emit := func(limit uint64, incl bool) bool {
		for ; i < len(x.ids) && (x.ids[i] < limit || incl && x.ids[i] == limit); i++ {
			if x.bits[i]&baseGone != 0 {
				continue
			}
			r = x.baseRecord(i)
			if !fn(x.ids[i], &r) {
				return false
			}
		}
		return true
	}
	more := true
	x.hot.AscendFunc(btreemap.GE(first), btreemap.LE(last), func(id uint64, r *record) bool {
		if more = emit(id, false); !more {
			return false
		}
		more = fn(id, r)
		return more
	})
	if more {
		emit(last, true)
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
