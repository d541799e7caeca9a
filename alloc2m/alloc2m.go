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
// back into an in-memory index — an ordered B-tree of ID→record for lookups
// and range walks, and bitmaps of the frames and slots in use — so that no
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
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"

	"github.com/brick-storage/brick/internal/oscall"
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

func (k LocKind) String() string {
	switch k {
	case Nowhere:
		return "none"
	case InFrame:
		return "frame"
	case InSlot:
		return "slot"
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

// Open opens (creating if needed, unless opts.Expect names a store) the
// metadata store in dir for the pmem region described by opts, and moves
// its generation on (see Identity).
//
// Before Pebble sees the directory, Open checks every write-ahead log for
// damage that Pebble would silently take for a torn tail (checkWALs,
// ErrCorrupt) and that the file system has room for what opening writes
// (ErrDiskFull). If a flush fails while Pebble opens, Open returns the
// error (ErrDiskFull, ErrIO) instead of waiting for Pebble's endless
// retries; see openPebble for what it leaves running.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Frames == 0 {
		return nil, fmt.Errorf("alloc2m: opening %s: region has no data frames: %w", dir, ErrInvalid)
	}
	if opts.UUID == ([16]byte{}) {
		return nil, fmt.Errorf("alloc2m: opening %s: region UUID is zero: %w", dir, ErrInvalid)
	}
	return open(dir, opts, false)
}

// OpenReadOnly opens the store in dir without changing it, for inspecting
// the map while brickd is down (brickctl list --meta). It takes the same
// directory lock as Open, so it fails with ErrLocked while a brickd has the
// store open (and a brickd cannot start while it is held). It needs no
// write access: on read-only media it takes a shared lock instead (see
// roLockFS) and Pebble opens read-only. Changes return ErrReadOnly.
func OpenReadOnly(dir string) (*Store, error) {
	return open(dir, Options{}, true)
}

func open(dir string, opts Options, readOnly bool) (_ *Store, err error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	switch {
	case readOnly:
		if _, err := fsys.Stat(dir); err != nil {
			return nil, fmt.Errorf("alloc2m: metadata store %s does not exist: %w", dir, err)
		}
		fsys = roLockFS{fsys}
	case opts.Expect.Bound():
		// Never create a store where the superblock says one exists.
		ok, err := exists(fsys, dir)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("the pmem image records metadata store %s at generation %d, but %s holds no metadata store: %w",
				fmtUUID(opts.Expect.ID), opts.Expect.Generation, dir, ErrNoMetadata)
		}
	default:
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("alloc2m: creating metadata directory %s: %w", dir, err)
		}
	}

	// Take Pebble's directory lock ourselves (Pebble takes it in read-only
	// mode too) so that "in use" can be told apart from other failures.
	lock, err := pebble.LockDirectory(dir, fsys)
	if err != nil {
		if isLockConflict(err) {
			if readOnly {
				return nil, fmt.Errorf("metadata store %s is in use by a running brickd; stop it or ask it with brickctl list: %w", dir, ErrLocked)
			}
			return nil, fmt.Errorf("metadata store %s is in use by another process (a running brickd or brickctl): %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("alloc2m: locking metadata store %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()

	if err := checkWALs(fsys, dir); err != nil {
		return nil, fmt.Errorf("alloc2m: metadata store %s: %w", dir, err)
	}
	plog := newPebbleLogger(logger)
	if !readOnly {
		// An existing store is vouched for read-only first: a writable
		// open flushes what it replays, starts a new log and rewrites its
		// OPTIONS, and none of that may happen to a store that is refused.
		if ok, err := exists(fsys, dir); err != nil {
			return nil, err
		} else if ok {
			if err := vouch(dir, fsys, lock, plog, opts); err != nil {
				return nil, err
			}
		}
		if err := checkFreeSpace(fsys, dir); err != nil {
			return nil, err
		}
	}
	watch := newOpenWatch(plog)
	popts := &pebble.Options{
		FS:            fsys,
		Lock:          lock,
		Logger:        plog,
		EventListener: watch.listener(),
		ReadOnly:      readOnly,
	}
	if !readOnly {
		setWritable(popts)
		popts.ErrorIfNotExists = opts.Expect.Bound()
	}
	db, err := openPebble(dir, popts, watch)
	if err != nil {
		if errors.Is(err, pebble.ErrDBDoesNotExist) {
			if opts.Expect.Bound() {
				return nil, fmt.Errorf("the pmem image records a metadata store, but %s holds none: %w", dir, ErrNoMetadata)
			}
			return nil, fmt.Errorf("alloc2m: %s holds no metadata store: %w", dir, fs.ErrNotExist)
		}
		if errors.Is(err, ErrDiskFull) || errors.Is(err, ErrIO) {
			return nil, err
		}
		return nil, fmt.Errorf("alloc2m: opening metadata store %s: %w", dir, err)
	}
	s := &Store{db: db, lock: lock, dir: dir, readOnly: readOnly, log: logger}
	s.mu.room.L = &s.mu.Mutex
	if err := s.load(opts); err != nil {
		_ = db.Close()
		if errors.Is(err, ErrNoMetadata) || errors.Is(err, ErrStoreMismatch) || errors.Is(err, ErrRolledBack) {
			return nil, err // these name the store already
		}
		return nil, fmt.Errorf("alloc2m: metadata store %s: %w", dir, err)
	}
	return s, nil
}

// isLockConflict reports whether a LockDirectory error means another holder.
func isLockConflict(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Creating the LOCK file failed (permissions, missing directory):
		// not a conflict. fcntl's EAGAIN/EACCES come back bare.
		return false
	}
	return oscall.LockConflict(err) ||
		// Pebble's own in-process check (a second Open in this process).
		strings.Contains(err.Error(), "lock held by current process")
}

// load checks or initialises the meta keys and rebuilds the index.
func (s *Store) load(opts Options) error {
	if !s.readOnly {
		if err := s.vouch(opts); err != nil {
			return err
		}
	}
	schema, haveSchema, err := s.getMeta(keyMetaSchema, 4)
	if err != nil {
		return err
	}
	uuid, haveUUID, err := s.getMeta(keyMetaUUID, 16)
	if err != nil {
		return err
	}
	framesVal, haveFrames, err := s.getMeta(keyMetaFrames, 8)
	if err != nil {
		return err
	}
	slotsVal, haveSlots, err := s.getMeta(keyMetaSlots, 8)
	if err != nil {
		return err
	}
	ident, haveIdent, err := s.readIdentity()
	if err != nil {
		return err
	}
	fresh := !haveSchema && !haveUUID && !haveFrames
	if fresh {
		if s.readOnly {
			return fmt.Errorf("not initialised (no brick metadata): %w", ErrCorrupt)
		}
		if err := s.hasBlocks(); err != nil {
			return err
		}
		id, err := newStoreID()
		if err != nil {
			return err
		}
		s.ident = Identity{ID: id, Generation: 1}
		b := s.db.NewBatch()
		defer b.Close()
		_ = b.Set([]byte(keyMetaSchema), encodeU32(schemaVersion), nil)
		_ = b.Set([]byte(keyMetaUUID), opts.UUID[:], nil)
		_ = b.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), nil)
		_ = b.Set([]byte(keyMetaSlots), encodeU64(opts.Slots), nil)
		_ = b.Set([]byte(keyMetaStore), s.ident.ID[:], nil)
		_ = b.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("initialising: %w", err)
		}
		// A new store's first log was created before Pebble raised its
		// format, so it lacks the WAL sync chunks checkWALs needs to tell
		// damage from a torn tail. A flush starts the next one.
		if err := s.db.Flush(); err != nil {
			return fmt.Errorf("initialising: %w", err)
		}
		// And the generation moves on in that new log, as at every open:
		// losing the log then shows as a store that went back (Identity).
		s.ident.Generation++
		if err := s.db.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), pebble.Sync); err != nil {
			return fmt.Errorf("initialising: %w", err)
		}
		s.log.Info("alloc2m: new metadata store", "dir", s.dir, "uuid", fmtUUID(opts.UUID), "store", fmtUUID(s.ident.ID), "frames", opts.Frames, "slots", opts.Slots)
		s.uuid, s.frames, s.slots = opts.UUID, opts.Frames, opts.Slots
		s.mu.blocks = newIndex()
		s.mu.used = newFrameBitmap(opts.Frames)
		s.mu.slotsUsed = newFrameBitmap(opts.Slots)
		return nil
	}
	if !haveSchema || !haveUUID || !haveFrames {
		return fmt.Errorf("incomplete meta keys (schema %v, uuid %v, frames %v): %w", haveSchema, haveUUID, haveFrames, ErrCorrupt)
	}
	schemaV := binary.BigEndian.Uint32(schema)
	if schemaV != schemaVersion && schemaV != schemaV2 && schemaV != schemaV1 {
		return fmt.Errorf("schema version %d, this brick reads %d to %d: %w", schemaV, schemaV1, schemaVersion, ErrCorrupt)
	}
	if schemaV == schemaVersion && !haveIdent {
		return fmt.Errorf("schema %d store without identity keys: %w", schemaV, ErrCorrupt)
	}
	s.ident = ident
	copy(s.uuid[:], uuid)
	stored := binary.BigEndian.Uint64(framesVal)
	var storedSlots uint64 // a schema-1 store has no tier
	if haveSlots {
		storedSlots = binary.BigEndian.Uint64(slotsVal)
	}
	switch {
	case stored == 0:
		return fmt.Errorf("recorded frame count is zero: %w", ErrCorrupt)
	case s.readOnly && (stored > maxCount || storedSlots > maxCount):
		// Only a read-only open sizes its bitmaps from these.
		return fmt.Errorf("recorded geometry of %d frames and %d slots is past the limit of %d: %w", stored, storedSlots, uint64(maxCount), ErrCorrupt)
	}
	s.frames = stored
	s.slots = storedSlots
	if !s.readOnly {
		s.frames, s.slots = opts.Frames, opts.Slots
	}
	if err := s.rebuild(stored, storedSlots); err != nil {
		return err
	}
	if s.readOnly {
		return nil
	}
	// Upgrade the schema (before any version-2 record is written), give
	// an older store its identity, move the generation on and record the
	// geometry, in one synced batch.
	if !haveIdent {
		if s.ident.ID, err = newStoreID(); err != nil {
			return err
		}
	}
	s.ident.Generation = max(s.ident.Generation, opts.Expect.Generation) + 1
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte(keyMetaSchema), encodeU32(schemaVersion), nil)
	_ = b.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), nil)
	_ = b.Set([]byte(keyMetaSlots), encodeU64(opts.Slots), nil)
	_ = b.Set([]byte(keyMetaStore), s.ident.ID[:], nil)
	_ = b.Set([]byte(keyMetaGen), encodeU64(s.ident.Generation), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("recording the schema version, generation and geometry: %w", err)
	}
	if schemaV != schemaVersion {
		s.log.Info("alloc2m: metadata schema upgraded", "dir", s.dir, "from", schemaV, "to", schemaVersion)
	}
	if stored != opts.Frames {
		s.log.Info("alloc2m: pmem region resized", "dir", s.dir, "from_frames", stored, "to_frames", opts.Frames)
	}
	if storedSlots != opts.Slots {
		s.log.Info("alloc2m: tier resized", "dir", s.dir, "from_slots", storedSlots, "to_slots", opts.Slots)
	}
	return nil
}

// rebuild reads every block record into the index, checking each location
// against the recorded geometry (storedFrames, storedSlots) and the current
// one (s.frames, s.slots).
func (s *Store) rebuild(storedFrames, storedSlots uint64) error {
	s.mu.blocks = newIndex()
	s.mu.used = newFrameBitmap(s.frames)
	s.mu.slotsUsed = newFrameBitmap(s.slots)
	spaces := map[LocKind]*space{
		InFrame: {noun: "frame", holder: "pmem region", stored: storedFrames, now: s.frames, used: s.mu.used, past: map[uint64]uint64{}},
		InSlot:  {noun: "slot", holder: "tier", stored: storedSlots, now: s.slots, used: s.mu.slotsUsed, past: map[uint64]uint64{}},
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{blockPrefix}, UpperBound: []byte{blockPrefix + 1}})
	if err != nil {
		return fmt.Errorf("scanning blocks: %w", err)
	}
	defer it.Close()
	var tooSmall error
	for it.First(); it.Valid(); it.Next() {
		id, err := decodeBlockKey(it.Key())
		if err != nil {
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("reading block %#x: %w", id, err)
		}
		loc, flags, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("block %#x: %w", id, err)
		}
		if sp := spaces[loc.Kind]; sp != nil {
			beyond, err := sp.claim(id, loc.Index, s.mu.blocks)
			if err != nil {
				return err
			}
			if beyond {
				if tooSmall == nil {
					tooSmall = fmt.Errorf("%s has %d %ss but block %#x uses %s %d; it must not shrink below the %ss in use: %w",
						sp.holder, sp.now, sp.noun, id, sp.noun, loc.Index, sp.noun, ErrTooSmall)
				}
				continue
			}
		}
		r := record{loc: loc, flags: flags, unclean: flags&flagMarkedRW != 0}
		s.mu.blocks.load(id, r)
		s.mu.live++
		s.countLocked(&r, 1)
		if r.unclean {
			s.mu.unclean++
		}
	}
	s.mu.blocks.trim()
	if err := it.Error(); err != nil {
		return fmt.Errorf("scanning blocks: %w", err)
	}
	if tooSmall != nil {
		return tooSmall
	}
	// Unclean blocks are the caller's to report (Stats().Unclean): brickd
	// says what they mean and where to see them.
	return nil
}

// space is the frames or the slots while rebuild checks the records.
type space struct {
	noun, holder string
	stored, now  uint64
	used         *frameBitmap
	// past maps index → ID for indexes ≥ now: legal records on a region
	// or tier that shrank, reported as ErrTooSmall rather than ErrCorrupt.
	past map[uint64]uint64
}

// claim marks index i used by block id. beyond says it is past the current
// end (the caller reports ErrTooSmall); two claims on one index and an index
// past the recorded end are ErrCorrupt.
func (sp *space) claim(id, i uint64, blocks *index) (beyond bool, err error) {
	switch {
	case i >= sp.stored:
		return false, fmt.Errorf("block %#x claims %s %d, the store has %d %ss: %w", id, sp.noun, i, sp.stored, sp.noun, ErrCorrupt)
	case i >= sp.now:
		if other, dup := sp.past[i]; dup {
			return false, fmt.Errorf("blocks %#x and %#x both claim %s %d: %w", other, id, sp.noun, i, ErrCorrupt)
		}
		sp.past[i] = id
		return true, nil
	case !sp.used.set(i):
		var other uint64
		blocks.ascend(0, math.MaxUint64, func(k uint64, r *record) bool {
			if r.loc.Index == i && r.loc.Kind != Nowhere && (r.loc.Kind == InFrame) == (sp.noun == "frame") {
				other = k
				return false
			}
			return true
		})
		return false, fmt.Errorf("blocks %#x and %#x both claim %s %d: %w", other, id, sp.noun, i, ErrCorrupt)
	}
	return false, nil
}

// countLocked adds (d = 1) or removes (d = -1) live record r to or from
// the per-location counters.
func (s *Store) countLocked(r *record, d int) {
	switch r.loc.Kind {
	case InSlot:
		s.mu.tiered += uint64(d)
		if r.unclean {
			s.mu.tieredUnclean += uint64(d)
		}
	case Nowhere:
		s.mu.unplaced += uint64(d)
	}
}

// hasBlocks returns ErrCorrupt if block records exist without meta keys.
func (s *Store) hasBlocks() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{blockPrefix}, UpperBound: []byte{blockPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.First() {
		return fmt.Errorf("block records without meta keys: %w", ErrCorrupt)
	}
	return it.Error()
}

// getMeta reads a meta key that must be exactly size bytes.
func (s *Store) getMeta(key string, size int) ([]byte, bool, error) {
	v, closer, err := s.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", key, err)
	}
	defer closer.Close()
	if len(v) != size {
		return nil, false, fmt.Errorf("%s is %d bytes, want %d: %w", key, len(v), size, ErrCorrupt)
	}
	return append([]byte(nil), v...), true, nil
}

// UUID is the pmem region UUID recorded in the store.
func (s *Store) UUID() [16]byte { return s.uuid }

// Alloc allocates block id without placing it anywhere: it reads as zeros
// until Place gives it a frame. The allocation is durable when Alloc
// returns. It fails with ErrNoSpace when the store already holds Capacity
// blocks.
func (s *Store) Alloc(id uint64) error {
	if id%BlockSize != 0 {
		return fmt.Errorf("alloc %#x: %w", id, ErrUnaligned)
	}
	s.mu.Lock()
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("alloc %#x: %w", id, err)
	}
	if _, _, ok := s.mu.blocks.Get(id); ok {
		s.mu.Unlock()
		return fmt.Errorf("alloc %#x: %w", id, ErrExist)
	}
	// Pending Allocs and Frees count: the former may be acknowledged, the
	// latter may fail.
	if c := s.capacity(); uint64(s.mu.blocks.Len()) >= c {
		s.mu.Unlock()
		if s.slots == 0 {
			return fmt.Errorf("alloc %#x: all %d pmem frames are allocated: %w", id, s.frames, ErrNoSpace)
		}
		return fmt.Errorf("alloc %#x: all %d pmem frames and %d tier slots are allocated (one is held back for moves): %w",
			id, s.frames, s.slots, ErrNoSpace)
	}
	r := &record{state: stateAllocating}
	s.mu.blocks.ReplaceOrInsert(id, r)
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	if err := s.commit(blockKey(id), encodeRecord(Location{}, 0), pebble.Sync); err != nil {
		s.mu.Lock()
		s.mu.blocks.Delete(id)
		s.mu.Unlock()
		return fmt.Errorf("alloc %#x: %w", id, err)
	}
	s.mu.Lock()
	r.state = stateLive
	s.mu.live++
	s.mu.unplaced++
	s.mu.Unlock()
	return nil
}

// capacity is how many blocks the store admits.
func (s *Store) capacity() uint64 {
	if s.slots == 0 {
		return s.frames
	}
	return s.frames + s.slots - 1
}

// Free releases block id; its frame or slot becomes reusable once the
// deletion is durable. The caller zeroes frames before reuse (Place's
// prepare).
func (s *Store) Free(id uint64) error {
	r, err := s.pin(id, "free", stateFreeing, nil)
	if err != nil {
		return err
	}
	defer s.inflight.Done()
	if err := s.commit(blockKey(id), nil, pebble.Sync); err != nil {
		s.mu.Lock()
		r.state = stateLive
		s.mu.Unlock()
		return fmt.Errorf("free %#x: %w", id, err)
	}
	s.mu.Lock()
	s.mu.blocks.Delete(id)
	s.releaseLocked(r.loc)
	s.countLocked(r, -1)
	s.mu.live--
	if r.unclean {
		s.mu.unclean--
	}
	s.mu.Unlock()
	return nil
}

// MarkRW durably marks block id as mapped read-write. Call it before a
// read-write handle is handed out.
func (s *Store) MarkRW(id uint64) error {
	return s.setFlags(id, "mark read-write", true, pebble.Sync)
}

// ClearRW clears the read-write mark (and Unclean) of block id. It is lazy:
// the change is durable with the next synced commit, and if a crash loses it
// the block merely reopens Unclean.
func (s *Store) ClearRW(id uint64) error {
	return s.setFlags(id, "clear read-write mark", false, pebble.NoSync)
}

func (s *Store) setFlags(id uint64, op string, mark bool, wo *pebble.WriteOptions) error {
	// Nothing to commit if the block is already in the wanted state.
	noop := func(r *record) bool {
		return (r.flags&flagMarkedRW != 0) == mark && (mark || !r.unclean)
	}
	r, err := s.pin(id, op, stateUpdating, noop)
	if err != nil || r == nil {
		return err
	}
	defer s.inflight.Done()
	flags := r.flags &^ flagMarkedRW // r.flags only changes in stateUpdating, which we own
	if mark {
		flags |= flagMarkedRW
	}
	if err := s.commit(blockKey(id), encodeRecord(r.loc, flags), wo); err != nil {
		s.mu.Lock()
		r.state = stateLive
		s.mu.Unlock()
		return fmt.Errorf("%s %#x: %w", op, id, err)
	}
	s.mu.Lock()
	r.flags = flags
	if !mark && r.unclean {
		s.countLocked(r, -1)
		r.unclean = false
		s.countLocked(r, 1)
		s.mu.unclean--
	}
	r.state = stateLive
	s.mu.Unlock()
	return nil
}

// pin moves live block id to state for an operation that will commit
// without the lock. It returns a nil record and no error if noop (optional)
// says there is nothing to do. When it returns a record, the caller owes
// s.inflight.Done().
func (s *Store) pin(id uint64, op string, state opState, noop func(*record) bool) (*record, error) {
	if id%BlockSize != 0 {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrUnaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, fmt.Errorf("%s %#x: %w", op, id, err)
	}
	r, ok := s.lookupLocked(id)
	if !ok {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrNotFound)
	}
	if r.state != stateLive {
		return nil, fmt.Errorf("%s %#x: %w", op, id, ErrBusy)
	}
	if noop != nil && noop(r) {
		return nil, nil
	}
	r.state = state
	s.inflight.Add(1)
	return r, nil
}

// ReserveFrame takes the lowest free frame for a Place or Relocate the
// caller is about to make. The caller owes either that call or Release.
// ErrNoSpace: every frame holds a block or is reserved.
func (s *Store) ReserveFrame() (uint64, error) {
	return s.reserve(InFrame)
}

// ReserveSlot takes the lowest free tier slot, as ReserveFrame does a frame.
func (s *Store) ReserveSlot() (uint64, error) {
	return s.reserve(InSlot)
}

func (s *Store) reserve(kind LocKind) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return 0, fmt.Errorf("reserve a %v: %w", kind, err)
	}
	if kind == InFrame {
		f, _, err := s.reserveFrameLocked(false)
		return f, err
	}
	i, ok := s.mu.slotsUsed.take()
	if !ok {
		if s.slots == 0 {
			return 0, fmt.Errorf("reserve a tier slot: the brick has no tier: %w", ErrNoSpace)
		}
		return 0, fmt.Errorf("reserve a %v: all %d are in use: %w", kind, s.slots, ErrNoSpace)
	}
	return i, nil
}

// Release returns a location reserved with ReserveFrame or ReserveSlot (or
// handed back by Relocate with keepOld) that the caller will not use.
func (s *Store) Release(loc Location) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(loc)
}

func (s *Store) releaseLocked(loc Location) {
	switch loc.Kind {
	case InFrame:
		s.mu.used.put(loc.Index)
	case InSlot:
		s.mu.slotsUsed.put(loc.Index)
	}
}

// Place gives block id, which has no location yet, a frame: the lowest free
// one, or frame if the caller reserved one (pass Location{} to let Place
// pick). prepare(frame) must leave the frame zeroed and durable; then the
// placement is committed. If prepare or the commit fails, the block stays
// unplaced and the frame is released. ErrNoSpace: no frame is free (the
// caller demotes a block and retries).
func (s *Store) Place(id uint64, frame Location, prepare func(frame uint64) error) (Block, error) {
	return s.place(id, frame, false, prepare)
}

// PlaceRW is Place for a block about to be mapped read-write: the placement
// and the read-write mark (see MarkRW) are one record, committed with one
// synced write, so a block's first read-write map costs one commit, not two.
func (s *Store) PlaceRW(id uint64, frame Location, prepare func(frame uint64) error) (Block, error) {
	return s.place(id, frame, true, prepare)
}

func (s *Store) place(id uint64, frame Location, markRW bool, prepare func(frame uint64) error) (Block, error) {
	if b, err := s.Lookup(id); err != nil {
		s.Release(frame)
		return Block{}, fmt.Errorf("place: %w", err)
	} else if b.Loc.Kind != Nowhere {
		s.Release(frame)
		return Block{}, fmt.Errorf("place %#x: the block is already in %v: %w", id, b.Loc, ErrBusy)
	}
	if frame.Kind == Nowhere {
		f, err := s.ReserveFrame()
		if err != nil {
			return Block{}, fmt.Errorf("place %#x: %w", id, err)
		}
		frame = FrameLoc(f)
	}
	b, _, err := s.relocate(id, frame, false, markRW, func(from Block) error {
		if from.Loc.Kind != Nowhere {
			return fmt.Errorf("block is already in %v: %w", from.Loc, ErrBusy)
		}
		if prepare == nil {
			return nil
		}
		return prepare(frame.Index)
	})
	return b, err
}

// Relocate moves block id to location to, which the caller reserved. It
// pins the block, calls move(b) with the block as committed (b.Loc is the
// source), which must copy the bytes to `to` and make them durable, then
// commits the new location with a synced write. Only after the commit is the
// old location released — or, if keepOld, handed to the caller still
// reserved (a demotion that frees a frame for a promotion). On any failure
// `to` is released and the block stays where it was. It returns the block at
// its new location and the old location.
//
// The caller keeps the block from being used while it moves (the brick
// holds the block's lock and moves only unmapped blocks); the store only
// refuses a block another store operation is changing (ErrBusy).
func (s *Store) Relocate(id uint64, to Location, keepOld bool, move func(b Block) error) (Block, Location, error) {
	return s.relocate(id, to, keepOld, false, move)
}

// relocate is Relocate that also sets the read-write mark if markRW.
func (s *Store) relocate(id uint64, to Location, keepOld, markRW bool, move func(b Block) error) (Block, Location, error) {
	if to.Kind != InFrame && to.Kind != InSlot {
		return Block{}, Location{}, fmt.Errorf("relocate %#x to %v: %w", id, to, ErrInvalid)
	}
	r, err := s.pin(id, "relocate", stateMoving, nil)
	if err != nil {
		s.Release(to)
		return Block{}, Location{}, err
	}
	defer s.inflight.Done()
	s.mu.Lock()
	b := r.block(id) // loc and flags only change in states we exclude
	s.mu.Unlock()
	fail := func(err error) (Block, Location, error) {
		s.mu.Lock()
		r.state = stateLive
		s.releaseLocked(to)
		s.mu.Unlock()
		return Block{}, Location{}, fmt.Errorf("move %#x from %v to %v: %w", id, b.Loc, to, err)
	}
	if err := move(b); err != nil {
		return fail(err)
	}
	flags := r.flags // r.flags only changes in stateUpdating, which we exclude
	if markRW {
		flags |= flagMarkedRW
	}
	if err := s.commit(blockKey(id), encodeRecord(to, flags), pebble.Sync); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	r.flags = flags
	old := r.loc
	s.countLocked(r, -1)
	r.loc = to
	s.countLocked(r, 1)
	r.state = stateLive
	if !keepOld {
		s.releaseLocked(old)
	}
	nb := r.block(id)
	s.mu.Unlock()
	return nb, old, nil
}

// lookupLocked returns the record of an acknowledged block.
func (s *Store) lookupLocked(id uint64) (*record, bool) {
	_, r, ok := s.mu.blocks.Get(id)
	if !ok || r.state == stateAllocating {
		return nil, false
	}
	return r, true
}

// writableLocked says whether changes may start.
func (s *Store) writableLocked() error {
	switch {
	case s.mu.closed:
		return ErrClosed
	case s.readOnly:
		return ErrReadOnly
	case s.mu.failed != nil:
		return fmt.Errorf("%w (after: %v)", ErrFailed, s.mu.failed)
	}
	return nil
}

// commit sets key to value (deletes it if value is nil) without the store
// lock held. A Pebble commit failure is fatal inside Pebble (see
// pebbleLogger); it is turned into ErrFailed and poisons the store.
func (s *Store) commit(key, value []byte, wo *pebble.WriteOptions) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fe, ok := r.(fatalError)
		if !ok {
			panic(r)
		}
		err = fmt.Errorf("%w: %v", ErrFailed, fe)
		s.mu.Lock()
		if s.mu.failed == nil {
			s.mu.failed = fe
		}
		s.mu.Unlock()
	}()
	if value == nil {
		return s.db.Delete(key, wo)
	}
	return s.db.Set(key, value, wo)
}

// Lookup returns block id.
func (s *Store) Lookup(id uint64) (Block, error) {
	if id%BlockSize != 0 {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrUnaligned)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrClosed)
	}
	r, ok := s.lookupLocked(id)
	if !ok {
		return Block{}, fmt.Errorf("lookup %#x: %w", id, ErrNotFound)
	}
	return r.block(id), nil
}

// walkChunk is how many blocks Walk copies per lock hold.
var walkChunk = 512

// Walk calls fn for every allocated block with first ≤ ID ≤ last, in
// ascending ID order, until fn returns false. The store lock is not held
// while fn runs (fn may call the store); blocks are copied out in chunks, so
// a walk that races changes sees each block as it was at some moment during
// the walk. A closed store walks nothing.
func (s *Store) Walk(first, last uint64, fn func(Block) bool) {
	if first > last {
		return
	}
	buf := make([]Block, 0, walkChunk)
	start := first
	for {
		buf = buf[:0]
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			return
		}
		s.mu.blocks.ascend(start, last, func(id uint64, r *record) bool {
			if r.state != stateAllocating {
				buf = append(buf, r.block(id))
			}
			return len(buf) < walkChunk
		})
		s.mu.Unlock()
		for _, b := range buf {
			if !fn(b) {
				return
			}
		}
		if len(buf) < walkChunk || buf[len(buf)-1].ID >= last {
			return
		}
		start = buf[len(buf)-1].ID + 1
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Frames:        s.frames,
		FreeFrames:    s.mu.used.free() + uint64(len(s.mu.clean)+len(s.mu.zeroing)),
		CleanFrames:   uint64(len(s.mu.clean)),
		Blocks:        s.mu.live,
		Unclean:       s.mu.unclean,
		Slots:         s.slots,
		FreeSlots:     s.mu.slotsUsed.free(),
		Tiered:        s.mu.tiered,
		TieredUnclean: s.mu.tieredUnclean,
		Unplaced:      s.mu.unplaced,
		Capacity:      s.capacity(),
	}
}

// Metrics returns Pebble's metrics for the store (disk usage, compactions,
// read amplification, WAL), or nil once the store is closed.
func (s *Store) Metrics() *pebble.Metrics {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.inflight.Add(1) // Close waits for it before closing Pebble
	s.mu.Unlock()
	defer s.inflight.Done()
	return s.db.Metrics()
}

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

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fmtUUID formats a UUID in the canonical 8-4-4-4-12 form.
func fmtUUID(u [16]byte) string { return FormatUUID(u) }

// FormatUUID prints a brick UUID in the usual 8-4-4-4-12 form, the one
// every log line and the CLI use.
func FormatUUID(u [16]byte) string {
	return uuid.UUID(u).String()
}
