// Package alloc2m allocates the 2 MiB frames of a pmem region and the
// slots of a slow tier to logical block IDs and keeps the logical→physical
// map durable in Pebble.
//
// # Model
//
// A block's logical ID is any BlockSize-aligned 64-bit value chosen by the
// client. Its location is one of: nowhere (allocated but never mapped; it
// reads as zeros and costs no space), a data frame of the pmem region
// (resident), or a slot of the slow tier (tiered). Pebble is the only
// durable state (see keys.go for the layout). At Open the whole map is read
// back into an in-memory index — ID-ordered arrays of the records read,
// plus a B-tree of the blocks touched since (index.go), for lookups and
// range walks, and bitmaps of the frames and slots in use — so that no
// verb reads Pebble. Open refuses metadata that contradicts itself (two
// blocks on one frame or slot, a location outside the region or tier, an
// undecodable record) rather than hand out the wrong memory, and refuses
// metadata that belongs to another pmem region (UUID mismatch).
//
// # Open refuses instead of guessing
//
// The store has an Identity (a random ID and a generation) that the pmem
// superblock records; given it (Options.Expect), Open refuses a store that
// is missing, empty, another one or rolled back, after only a read-only
// look at it (identity.go). Pebble 2.1 would take damage in the middle of
// a write-ahead log for a torn tail and drop the records after it; Open
// checks the logs first and refuses such damage (walcheck.go). A full
// metadata disk would make Pebble's open retry a flush forever; Open checks
// the free space and fails on a background error while opening
// (pebble.go).
//
// # Capacity
//
// Every block ends up in exactly one frame or slot, so Alloc admits blocks
// while their number is below frames + slots. With a tier, one location is
// held back: when every frame and every other slot is taken, promoting a
// tiered block means demoting a resident one, and doing that crash-safely
// needs somewhere to copy the victim before its frame is reused.
//
// # Moves
//
// A block changes location with Relocate, to a frame or slot the caller
// reserved (ReserveFrame, ReserveSlot): the caller's copy function copies
// the bytes and makes them durable, then the new location is committed
// (one synced Pebble write), and only then is the old location released in
// memory. A crash before the commit leaves the record on the old copy and
// the reserved destination unreferenced; after it, on the new copy with the
// old location unreferenced. Nothing else records which frames or slots
// are free: at Open every location no record names is free, so a crash
// leaks nothing.
//
// # Durability
//
// Alloc, Free, MarkRW, Place and Relocate are synced to Pebble's WAL
// before they return: an
// acknowledged change survives a crash. ClearRW is lazy (NoSync): losing it
// in a crash leaves a block marked read-write, which is the conservative
// direction (it is then reported Unclean), and the next synced commit carries
// it anyway because the WAL is ordered. A mark found at Open means the block
// was mapped read-write when the brick stopped uncleanly, so it may hold torn
// writes; Block.Unclean says so until ClearRW.
//
// A block gets its first frame from Place, whose prepare callback (the brick
// zeroes the frame there) runs before the commit, or from the pool of frames
// zeroed ahead of time (clean.go), so a block is never durably placed on a
// frame holding the previous owner's data. Moves overwrite the whole
// destination, so they need no zeroing. PlaceRW commits the placement and
// the read-write mark in one record: a first read-write map is one synced
// commit.
//
// # Group commit
//
// A synced commit costs an fsync. The store does not hold its mutex across
// it: an operation reserves its block under the lock (an Alloc claims the
// ID, a Free, mark update or move pins the record) in a pending state,
// commits to Pebble without the lock, and finalises under the lock. Pebble's
// commit pipeline writes concurrent batches to the WAL in order and its WAL
// writer covers every batch queued since the last fsync with the next one, so
// N concurrent Allocs cost about one fsync rather than N; that coalescing is
// the group commit (BenchmarkAllocParallel against BenchmarkAllocSerial shows
// it). While a block is pending, a second Alloc of its ID gets ErrExist, and
// Free, MarkRW or ClearRW get ErrNotFound (the Alloc is not acknowledged yet)
// or ErrBusy (another change to a live block is in flight).
//
// If a commit itself fails, Pebble cannot tell whether it reached the disk.
// The operation is undone in memory and returns ErrFailed, and the store
// refuses every later change: only a reopen, which reads what is durable, can
// be trusted.
package alloc2m

import (
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"

	"github.com/brick-storage/brick/protocol"
)

// BlockSize is the size of a block (the protocol's unit) and of a frame;
// IDs are multiples of it.
const BlockSize = protocol.BlockSize

// MaxID is the highest block ID.
const MaxID = math.MaxUint64 &^ (BlockSize - 1)

// LocKind says where a block's bytes are. The numbers are stored in block
// records: never renumber.
type LocKind uint8

const (
	Nowhere LocKind = 0 // allocated, never placed: reads as zeros
	InFrame LocKind = 1 // resident in a pmem data frame
	InSlot  LocKind = 2 // on the slow tier
)

var locKindNames = [...]string{Nowhere: "none", InFrame: "frame", InSlot: "slot"}

func (k LocKind) String() string {
	if int(k) < len(locKindNames) {
		return locKindNames[k]
	}
	return fmt.Sprintf("location(%d)", uint8(k))
}

// Location is a frame or slot index, or Nowhere.
type Location struct {
	Kind  LocKind
	Index uint64 // frame or slot index; zero for Nowhere
}

func (l Location) String() string {
	if l.Kind == Nowhere {
		return "none"
	}
	return fmt.Sprintf("%v %d", l.Kind, l.Index)
}

// FrameLoc and SlotLoc build locations.
func FrameLoc(i uint64) Location { return Location{Kind: InFrame, Index: i} }
func SlotLoc(i uint64) Location  { return Location{Kind: InSlot, Index: i} }

// Block describes one allocated block.
type Block struct {
	ID       uint64   // logical ID (2 MiB aligned)
	Loc      Location // where its bytes are
	Frame    uint64   // data frame index in the pmem region; valid when Loc.Kind == InFrame
	MarkedRW bool     // a durable "mapped read-write" mark is set
	Unclean  bool     // the mark was found at Open: the block was mapped RW when the brick last stopped uncleanly (torn writes possible)
}

// Resident reports whether the block is in a pmem frame.
func (b Block) Resident() bool { return b.Loc.Kind == InFrame }

// Tiered reports whether the block is on the slow tier.
func (b Block) Tiered() bool { return b.Loc.Kind == InSlot }

// Options configures Open.
type Options struct {
	// UUID is the pmem region's UUID. A new store records it; an existing
	// store must hold the same one (ErrUUIDMismatch).
	UUID [16]byte
	// Frames is the number of data frames in the region. It is recorded;
	// the region may keep its size or grow, and may shrink only if no
	// block uses a frame past the new end (ErrTooSmall).
	Frames uint64
	// Slots is the number of slow-tier slots (zero: no tier). Like
	// Frames, it may grow, and shrink only past unused slots.
	Slots uint64
	// FS is the file system Pebble uses; nil means vfs.Default. Tests pass
	// a memory or fault-injecting FS.
	FS vfs.FS
	// Logger receives Pebble's and the store's log lines; nil means
	// slog.Default().
	Logger *slog.Logger
	// Expect is the store the pmem superblock records (zero: none, the
	// region holds no blocks yet). When set, the store must exist, carry
	// this ID, and be at this generation or one past it (a crash after the
	// store moved on and before the superblock did); otherwise Open fails
	// with ErrNoMetadata, ErrStoreMismatch or ErrRolledBack before it
	// creates or writes anything. See Identity.
	Expect Identity
}

// Stats counts the store's contents.
type Stats struct {
	Frames     uint64 // data frames in the region
	FreeFrames uint64 // frames neither holding a block nor reserved for a move
	Blocks     uint64 // allocated blocks (acknowledged Allocs not yet freed)
	Unclean    uint64 // blocks that were mapped read-write at an unclean stop
	Slots      uint64 // slow-tier slots (zero: no tier)
	FreeSlots  uint64 // slots neither holding a block nor reserved for a move
	Tiered     uint64 // blocks in a tier slot
	// TieredUnclean counts the Unclean blocks that are also Tiered (List
	// shows them as unclean).
	TieredUnclean uint64
	Unplaced      uint64 // blocks never placed (no frame or slot yet)
	Capacity      uint64 // blocks Alloc admits in all (frames + slots, less one held back with a tier)

	// CleanFrames counts the free frames in the pool of zeroed ones
	// (clean.go); FreeFrames includes them.
	CleanFrames uint64
}

// opState is where a record is in its life. Records not in stateLive are
// being changed by an operation that has released the store lock to commit.
type opState uint8

const (
	stateLive       opState = iota // committed, no change in flight
	stateAllocating                // Alloc reserved it; not acknowledged yet
	stateFreeing                   // Free is committing its deletion
	stateUpdating                  // MarkRW or ClearRW is committing new flags
	stateMoving                    // Relocate is copying or committing a new location
)

// record is the in-memory state of one block. Its fields are guarded by
// Store.mu.
type record struct {
	loc     Location // committed location
	flags   uint8    // committed flags
	unclean bool
	state   opState
}

func (r *record) block(id uint64) Block {
	b := Block{ID: id, Loc: r.loc, MarkedRW: r.flags&flagMarkedRW != 0, Unclean: r.unclean}
	if r.loc.Kind == InFrame {
		b.Frame = r.loc.Index
	}
	return b
}

// Store is the frame allocator and the logical→physical map. Its methods
// are safe for concurrent use.
type Store struct {
	db       *pebble.DB
	lock     *pebble.Lock
	dir      string
	readOnly bool
	uuid     [16]byte
	ident    Identity // guarded by mu after Open
	frames   uint64
	slots    uint64
	log      *slog.Logger

	// inflight counts operations between reservation and finalisation, so
	// Close can wait for their commits before closing Pebble. Add is called
	// with mu held and closed false.
	inflight sync.WaitGroup

	mu struct {
		sync.Mutex
		// closed is set by Close; no operation starts after it.
		closed bool
		// failed is the first commit failure; changes are refused after it.
		failed error
		// blocks maps ID to record, including pending Allocs.
		blocks *index
		// used is the set of frames holding a block or reserved for one.
		used *frameBitmap
		// slotsUsed is the same for tier slots.
		slotsUsed *frameBitmap
		// live counts records that are not stateAllocating.
		live uint64
		// tiered and unplaced count live records in a slot and nowhere;
		// tieredUnclean the tiered ones with unclean set.
		tiered, unplaced, tieredUnclean uint64
		// unclean counts records with unclean set.
		unclean uint64
		// clean is the pool of free frames known to be zero on durable
		// media, and zeroing the frames a zeroer holds (clean.go). Both
		// are set in used.
		clean, zeroing []uint64
		// room is signalled when a zeroing ends (reserveFrameLocked waits).
		room sync.Cond
	}
}

// UUID is the pmem region UUID recorded in the store.
func (s *Store) UUID() [16]byte { return s.uuid }

// Close waits for operations in flight, then closes Pebble and releases the
// directory lock.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.mu.closed = true
	failed := s.mu.failed
	s.mu.room.Broadcast() // a reserve waiting for a zeroing gives up
	s.mu.Unlock()
	s.inflight.Wait()

	var err error
	if failed != nil {
		// Pebble's commit pipeline is wedged after a fatal error; closing
		// it may fail too. The lock is released regardless.
		if cerr := closeFailed(s.db); cerr != nil {
			err = fmt.Errorf("alloc2m: closing failed metadata store %s: %w", s.dir, cerr)
		}
	} else if cerr := s.db.Close(); cerr != nil {
		err = fmt.Errorf("alloc2m: closing metadata store %s: %w", s.dir, cerr)
	}
	if lerr := s.lock.Close(); lerr != nil && err == nil {
		err = fmt.Errorf("alloc2m: unlocking metadata store %s: %w", s.dir, lerr)
	}
	return err
}

// closeFailed closes a DB whose commit pipeline hit a fatal error,
// containing a further fatal error.
func closeFailed(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatalError); !ok {
				panic(r)
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	return db.Close()
}

// fmtUUID formats a UUID in the canonical 8-4-4-4-12 form.
func fmtUUID(u [16]byte) string { return FormatUUID(u) }

// FormatUUID prints a brick UUID in the usual 8-4-4-4-12 form, the one
// every log line and the CLI use.
func FormatUUID(u [16]byte) string {
	return uuid.UUID(u).String()
}
