package alloc2m

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func openTiered(t testing.TB, fsys vfs.FS, frames, slots uint64) *Store {
	t.Helper()
	s, err := Open(dir, Options{UUID: testUUID, Frames: frames, Slots: slots, FS: fsys, Logger: quiet})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// demote moves id from its frame to the lowest free slot.
func demote(t testing.TB, s *Store, id uint64, keepOld bool) (Block, Location) {
	t.Helper()
	slot, err := s.ReserveSlot()
	if err != nil {
		t.Fatalf("ReserveSlot: %v", err)
	}
	b, old, err := s.Relocate(id, SlotLoc(slot), keepOld, func(Block) error { return nil })
	if err != nil {
		t.Fatalf("demote %#x: %v", id, err)
	}
	return b, old
}

func TestCapacity(t *testing.T) {
	tests := []struct {
		frames, slots, want uint64
		say                 string
	}{
		{4, 0, 4, "all 4 pmem frames are allocated"},
		{2, 3, 4, "all 2 pmem frames and 3 tier slots are allocated"},
		{1, 1, 1, "1 tier slots"},
	}
	for _, tt := range tests {
		s := openTiered(t, vfs.NewMem(), tt.frames, tt.slots)
		for i := range tt.want {
			if err := s.Alloc(id(i)); err != nil {
				t.Fatalf("%d+%d: Alloc %d: %v", tt.frames, tt.slots, i, err)
			}
		}
		err := s.Alloc(id(tt.want))
		if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), tt.say) {
			t.Fatalf("%d+%d: Alloc past capacity: %v, want ErrNoSpace saying %q", tt.frames, tt.slots, err, tt.say)
		}
		if st := s.Stats(); st.Capacity != tt.want || st.Unplaced != tt.want || st.FreeFrames != tt.frames || st.FreeSlots != tt.slots {
			t.Fatalf("%d+%d: stats %+v", tt.frames, tt.slots, st)
		}
		s.Close()
	}
}

// TestMoves: place, demote, promote through a frame freed by a demotion,
// free from a slot; reservations and counters at each step; reopen.
func TestMoves(t *testing.T) {
	fsys := vfs.NewMem()
	s := openTiered(t, fsys, 2, 3)
	for i := range 4 {
		if err := s.Alloc(id(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var zeroed []uint64
	zero := func(f uint64) error { zeroed = append(zeroed, f); return nil }
	for _, i := range []uint64{0, 1} {
		if _, err := s.Place(id(i), Location{}, zero); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Place(id(2), Location{}, zero); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Place with every frame taken: %v, want ErrNoSpace", err)
	}
	if len(zeroed) != 2 {
		t.Fatalf("zeroed %v", zeroed)
	}
	// Demote block 0 keeping its frame for block 2.
	b, old := demote(t, s, id(0), true)
	if b.Loc != SlotLoc(0) || old != FrameLoc(0) {
		t.Fatalf("demoted to %v from %v", b.Loc, old)
	}
	if st := s.Stats(); st.FreeFrames != 0 || st.FreeSlots != 2 || st.Tiered != 1 {
		t.Fatalf("kept frame must stay reserved: %+v", st)
	}
	if b, err := s.Place(id(2), old, zero); err != nil || b.Loc != old {
		t.Fatalf("Place into the kept frame: %+v %v", b, err)
	}
	// Promote block 0 back through a frame freed by demoting block 1.
	_, freed := demote(t, s, id(1), true)
	var copied Location
	b, from, err := s.Relocate(id(0), freed, false, func(b Block) error { copied = b.Loc; return nil })
	if err != nil || b.Loc != freed || from != SlotLoc(0) || copied != SlotLoc(0) {
		t.Fatalf("promote: %+v from %v (copy saw %v): %v", b, from, copied, err)
	}
	if st := s.Stats(); st.FreeFrames != 0 || st.FreeSlots != 2 || st.Tiered != 1 || st.Unplaced != 1 {
		t.Fatalf("after promote: %+v", st)
	}
	// A failed copy changes nothing and releases the destination.
	slot, _ := s.ReserveSlot()
	boom := errors.New("copy failed")
	if _, _, err := s.Relocate(id(2), SlotLoc(slot), false, func(Block) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed move: %v", err)
	}
	if b, _ := s.Lookup(id(2)); b.Loc != FrameLoc(0) {
		t.Fatalf("after failed move: %v", b.Loc)
	}
	if st := s.Stats(); st.FreeSlots != 2 {
		t.Fatalf("failed move leaked its slot: %+v", st)
	}
	if _, _, err := s.Relocate(id(2), Location{}, false, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("move to nowhere: %v", err)
	}
	if _, err := s.Place(id(2), Location{}, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Place of a placed block: %v", err)
	}
	if st := s.Stats(); st.FreeFrames != 0 {
		t.Fatalf("refused Place leaked its frame: %+v", st)
	}
	want := snapshot(s)
	if err := s.Free(id(1)); err != nil { // from a slot
		t.Fatal(err)
	}
	delete(want, id(1))
	if st := s.Stats(); st.FreeSlots != 3 || st.Tiered != 0 {
		t.Fatalf("after freeing a tiered block: %+v", st)
	}
	s.Close()

	s = openTiered(t, fsys, 2, 3)
	defer s.Close()
	if got := snapshot(s); !maps.Equal(got, want) {
		t.Fatalf("reopened %v, want %v", got, want)
	}
	if st := s.Stats(); st.FreeFrames != 0 || st.FreeSlots != 3 || st.Unplaced != 1 {
		t.Fatalf("reopened stats %+v", st)
	}
	if _, err := s.ReserveFrame(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("ReserveFrame with none free: %v", err)
	}
}

// TestCrashMoves runs random allocs, places, demotions, promotions and
// frees; after every acknowledged step it takes a crash image. Each image
// reopens to the acknowledged map, with every frame and slot no block holds
// free — including those a move had reserved when the crash came.
func TestCrashMoves(t *testing.T) {
	const frames, slots = 4, 8
	mem := vfs.NewCrashableMem()
	s := openTiered(t, mem, frames, slots)
	rng := rand.New(rand.NewPCG(3, 3))
	model := map[uint64]Block{}
	var images []memCrash
	for step := range 400 {
		n := id(uint64(rng.IntN(14)))
		b, have := model[n]
		var err error
		switch op := rng.IntN(10); {
		case op < 2:
			if err = s.Alloc(n); err == nil {
				model[n] = Block{ID: n}
			}
		case op < 3:
			if err = s.Free(n); err == nil {
				delete(model, n)
			}
		case !have:
			continue
		case b.Loc.Kind == Nowhere:
			if b, err = s.Place(n, Location{}, nil); err == nil {
				model[n] = b
			}
		case b.Loc.Kind == InFrame:
			var slot uint64
			if slot, err = s.ReserveSlot(); err == nil {
				if b, _, err = s.Relocate(n, SlotLoc(slot), false, func(Block) error { return nil }); err == nil {
					model[n] = b
				}
			}
		default:
			var f uint64
			if f, err = s.ReserveFrame(); err == nil {
				if b, _, err = s.Relocate(n, FrameLoc(f), false, func(Block) error { return nil }); err == nil {
					model[n] = b
				}
			}
		}
		if err != nil && !errors.Is(err, ErrExist) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("step %d: %v", step, err)
		}
		if err != nil {
			continue
		}
		// Sometimes crash with a move's destination reserved.
		if rng.IntN(4) == 0 {
			if f, err := s.ReserveFrame(); err == nil {
				defer s.Release(FrameLoc(f))
			}
		}
		images = append(images, memCrash{mem.CrashClone(vfs.CrashCloneCfg{}), maps.Clone(model), step})
	}
	s.Close()
	checkCrashImages(t, images, 60, func(fs vfs.FS) *Store { return openTiered(t, fs, frames, slots) }, func(c *Store, im memCrash) {
		var resident, tiered, unplaced uint64
		for _, b := range im.want {
			switch b.Loc.Kind {
			case InFrame:
				resident++
			case InSlot:
				tiered++
			default:
				unplaced++
			}
		}
		st := c.Stats()
		if st.FreeFrames != frames-resident || st.FreeSlots != slots-tiered || st.Tiered != tiered || st.Unplaced != unplaced {
			t.Fatalf("crash after step %d: stats %+v with %d resident, %d tiered", im.step, st, resident, tiered)
		}
	})
}

// TestVersion1Store: a store written before tiering (schema 1, version-1
// records, no slot count) opens with every block in its frame, is upgraded
// to schema 2, and then takes a tier.
func TestVersion1Store(t *testing.T) {
	fsys := vfs.NewMem()
	db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: newPebbleLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	v1 := func(frame uint64, flags uint8) []byte {
		return append([]byte{recordV1, flags}, encodeU64(frame)...)
	}
	for _, kv := range [][2][]byte{
		{[]byte(keyMetaSchema), encodeU32(schemaV1)},
		{[]byte(keyMetaUUID), testUUID[:]},
		{[]byte(keyMetaFrames), encodeU64(4)},
		{blockKey(id(1)), v1(2, 0)},
		{blockKey(id(7)), v1(0, flagMarkedRW)},
	} {
		if err := db.Set(kv[0], kv[1], pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := openTiered(t, fsys, 4, 2)
	want := map[uint64]Block{
		id(1): inFrame(id(1), 2),
		id(7): {ID: id(7), Loc: FrameLoc(0), Frame: 0, MarkedRW: true, Unclean: true},
	}
	if got := snapshot(s); !maps.Equal(got, want) {
		t.Fatalf("version-1 blocks: %v, want %v", got, want)
	}
	if st := s.Stats(); st.FreeFrames != 2 || st.Slots != 2 || st.Capacity != 5 {
		t.Fatalf("stats %+v", st)
	}
	demote(t, s, id(1), false)
	s.Close()

	s = openTiered(t, fsys, 4, 2)
	defer s.Close()
	schema, _, _ := s.getMeta(keyMetaSchema, 4)
	if !bytes.Equal(schema, encodeU32(schemaVersion)) {
		t.Fatalf("schema %x after open, want %d", schema, schemaVersion)
	}
	if b, _ := s.Lookup(id(1)); b.Loc != SlotLoc(0) {
		t.Fatalf("demoted block reopened in %v", b.Loc)
	}
}

// TestTierShrink: the tier may grow, and shrink or go away only past the
// slots in use.
func TestTierShrink(t *testing.T) {
	fsys := vfs.NewMem()
	s := openTiered(t, fsys, 2, 4)
	if err := s.Alloc(id(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Place(id(1), Location{}, nil); err != nil {
		t.Fatal(err)
	}
	demote(t, s, id(1), false)
	demoteTo := func(slot uint64) {
		// Move it to slot 2 via a reservation of slots 1 and 2.
		a, _ := s.ReserveSlot()
		b, _ := s.ReserveSlot()
		s.Release(SlotLoc(a))
		if b != slot {
			t.Fatalf("reserved slot %d, want %d", b, slot)
		}
		f, _ := s.ReserveFrame()
		if _, _, err := s.Relocate(id(1), FrameLoc(f), false, func(Block) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Relocate(id(1), SlotLoc(b), false, func(Block) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	demoteTo(2)
	s.Close()
	for _, slots := range []uint64{0, 2} {
		_, err := Open(dir, Options{UUID: testUUID, Frames: 2, Slots: slots, FS: fsys, Logger: quiet})
		if !errors.Is(err, ErrTooSmall) || !strings.Contains(err.Error(), "tier has") {
			t.Fatalf("open with %d slots: %v, want ErrTooSmall about the tier", slots, err)
		}
	}
	s = openTiered(t, fsys, 2, 3) // shrinking past unused slots is fine
	s.Close()
	s = openTiered(t, fsys, 2, 16)
	defer s.Close()
	if st := s.Stats(); st.Slots != 16 || st.FreeSlots != 15 || st.Tiered != 1 {
		t.Fatalf("after growing: %+v", st)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(FrameLoc(3), flagMarkedRW))
	f.Add(encodeRecord(SlotLoc(1<<40), 0))
	f.Add(encodeRecord(Location{}, 0))
	f.Add(append([]byte{recordV1, 0}, encodeU64(7)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		loc, flags, err := decodeRecord(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to the same record (version 2).
		if v[0] == recordVersion && !bytes.Equal(encodeRecord(loc, flags), v) {
			t.Fatalf("%x decodes to %v %#x, which encodes to %x", v, loc, flags, encodeRecord(loc, flags))
		}
		if v[0] == recordV1 && loc.Kind != InFrame {
			t.Fatalf("version-1 record %x decodes to %v", v, loc)
		}
	})
}
