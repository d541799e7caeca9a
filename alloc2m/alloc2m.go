// Package alloc2m allocates the 2 MiB frames of a pmem region to logical
// block IDs and keeps the logical→physical map durable in Pebble.
//
// # Model
//
// A block's logical ID is any BlockSize-aligned 64-bit value chosen by the
// client; its frame is a data-frame index in the pmem region, chosen here
// (the lowest free one). Pebble is the only durable state (see keys.go for
// the layout). At Open the whole map is read back into an in-memory index —
// an ordered B-tree of ID→record for lookups and range walks, and a bitmap
// of frames in use — so that no verb reads Pebble. Open refuses metadata
// that contradicts itself (two blocks on one frame, a frame outside the
// region, an undecodable record) rather than hand out the wrong memory, and
// refuses metadata that belongs to another pmem region (UUID mismatch).
//
// # Durability
//
// Alloc, Free and MarkRW are synced to Pebble's WAL before they return: an
// acknowledged change survives a crash. ClearRW is lazy (NoSync): losing it
// in a crash leaves a block marked read-write, which is the conservative
// direction (it is then reported Unclean), and the next synced commit carries
// it anyway because the WAL is ordered. A mark found at Open means the block
// was mapped read-write when the brick stopped uncleanly, so it may hold torn
// writes; Block.Unclean says so until ClearRW.
//
// Alloc calls its prepare callback (the brick zeroes the frame there) before
// the commit, so a block is never durably allocated over a frame holding the
// previous owner's data.
//
// # Group commit
//
// A synced commit costs an fsync. The store does not hold its mutex across
// it: an operation reserves its block under the lock (an Alloc claims the ID
// and a frame, a Free or mark update pins the record) in a pending state,
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
	"syscall"

	"github.com/RaduBerinde/btreemap"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// BlockSize is the size of a block and of a frame; IDs are multiples of it.
const BlockSize = 2 << 20

// MaxID is the highest block ID.
const MaxID = math.MaxUint64 &^ (BlockSize - 1)

// Block describes one allocated block.
type Block struct {
	ID       uint64 // logical ID (2 MiB aligned)
	Frame    uint64 // data frame index in the pmem region
	MarkedRW bool   // a durable "mapped read-write" mark is set
	Unclean  bool   // the mark was found at Open: the block was mapped RW when the brick last stopped uncleanly (torn writes possible)
}

// Options configures Open.
type Options struct {
	// UUID is the pmem region's UUID. A new store records it; an existing
	// store must hold the same one (ErrUUIDMismatch).
	UUID [16]byte
	// Frames is the number of data frames in the region. It is recorded;
	// the region may keep its size or grow, and may shrink only if no
	// block uses a frame past the new end (ErrTooSmall).
	Frames uint64
	// FS is the file system Pebble uses; nil means vfs.Default. Tests pass
	// a memory or fault-injecting FS.
	FS vfs.FS
	// Logger receives Pebble's and the store's log lines; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Stats counts the store's contents.
type Stats struct {
	Frames     uint64 // data frames in the region
	FreeFrames uint64 // frames not allocated (nor being allocated)
	Blocks     uint64 // allocated blocks (acknowledged Allocs not yet freed)
	Unclean    uint64 // blocks that were mapped read-write at an unclean stop
}

// opState is where a record is in its life. Records not in stateLive are
// being changed by an operation that has released the store lock to commit.
type opState uint8

const (
	stateLive       opState = iota // committed, no change in flight
	stateAllocating                // Alloc reserved it; not acknowledged yet
	stateFreeing                   // Free is committing its deletion
	stateUpdating                  // MarkRW or ClearRW is committing new flags
)

// record is the in-memory state of one block. Its fields are guarded by
// Store.mu.
type record struct {
	frame   uint64
	flags   uint8 // committed flags
	unclean bool
	state   opState
}

func (r *record) block(id uint64) Block {
	return Block{ID: id, Frame: r.frame, MarkedRW: r.flags&flagMarkedRW != 0, Unclean: r.unclean}
}

// Store is the frame allocator and the logical→physical map. Its methods
// are safe for concurrent use.
type Store struct {
	db       *pebble.DB
	lock     *pebble.Lock
	dir      string
	readOnly bool
	uuid     [16]byte
	frames   uint64
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
		blocks *btreemap.BTreeMap[uint64, *record]
		// used is the set of frames allocated or being allocated.
		used *frameBitmap
		// live counts records that are not stateAllocating.
		live uint64
		// unclean counts records with unclean set.
		unclean uint64
	}
}

// Open opens (creating if needed) the metadata store in dir for the pmem
// region described by opts.
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
// store open (and a brickd cannot start while it is held). Changes return
// ErrReadOnly.
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
	if readOnly {
		if _, err := fsys.Stat(dir); err != nil {
			return nil, fmt.Errorf("alloc2m: metadata store %s does not exist: %w", dir, err)
		}
	} else if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("alloc2m: creating metadata directory %s: %w", dir, err)
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

	popts := &pebble.Options{
		FS:       fsys,
		Lock:     lock,
		Logger:   pebbleLogger{l: logger},
		ReadOnly: readOnly,
	}
	if !readOnly {
		// New stores get the newest format; existing ones are ratcheted.
		popts.FormatMajorVersion = pebble.FormatNewest
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		if errors.Is(err, pebble.ErrDBDoesNotExist) {
			return nil, fmt.Errorf("alloc2m: %s holds no metadata store: %w", dir, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("alloc2m: opening metadata store %s: %w", dir, err)
	}
	s := &Store{db: db, lock: lock, dir: dir, readOnly: readOnly, log: logger}
	if err := s.load(opts); err != nil {
		_ = db.Close()
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
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		// Pebble's own in-process check (a second Open in this process).
		strings.Contains(err.Error(), "lock held by current process")
}

// load checks or initialises the meta keys and rebuilds the index.
func (s *Store) load(opts Options) error {
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
	fresh := !haveSchema && !haveUUID && !haveFrames
	if fresh {
		if s.readOnly {
			return fmt.Errorf("not initialised (no brick metadata): %w", ErrCorrupt)
		}
		if err := s.hasBlocks(); err != nil {
			return err
		}
		b := s.db.NewBatch()
		defer b.Close()
		_ = b.Set([]byte(keyMetaSchema), encodeU32(schemaVersion), nil)
		_ = b.Set([]byte(keyMetaUUID), opts.UUID[:], nil)
		_ = b.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("initialising: %w", err)
		}
		s.log.Info("alloc2m: new metadata store", "dir", s.dir, "uuid", fmtUUID(opts.UUID), "frames", opts.Frames)
		s.uuid, s.frames = opts.UUID, opts.Frames
		s.mu.blocks = btreemap.New[uint64, *record](32, cmpU64)
		s.mu.used = newFrameBitmap(opts.Frames)
		return nil
	}
	if !haveSchema || !haveUUID || !haveFrames {
		return fmt.Errorf("incomplete meta keys (schema %v, uuid %v, frames %v): %w", haveSchema, haveUUID, haveFrames, ErrCorrupt)
	}
	if v := binary.BigEndian.Uint32(schema); v != schemaVersion {
		return fmt.Errorf("schema version %d, this brick reads %d: %w", v, schemaVersion, ErrCorrupt)
	}
	copy(s.uuid[:], uuid)
	stored := binary.BigEndian.Uint64(framesVal)
	if stored == 0 {
		return fmt.Errorf("recorded frame count is zero: %w", ErrCorrupt)
	}
	s.frames = stored
	if !s.readOnly {
		if s.uuid != opts.UUID {
			return fmt.Errorf("metadata in %s belongs to brick %s, pmem region is brick %s; refusing to start: %w",
				s.dir, fmtUUID(s.uuid), fmtUUID(opts.UUID), ErrUUIDMismatch)
		}
		s.frames = opts.Frames
	}
	if err := s.rebuild(stored); err != nil {
		return err
	}
	if !s.readOnly && stored != opts.Frames {
		if err := s.db.Set([]byte(keyMetaFrames), encodeU64(opts.Frames), pebble.Sync); err != nil {
			return fmt.Errorf("recording new frame count: %w", err)
		}
		s.log.Info("alloc2m: pmem region resized", "dir", s.dir, "from_frames", stored, "to_frames", opts.Frames)
	}
	return nil
}

// rebuild reads every block record into the index, checking each against
// the recorded frame count (stored) and the region's (s.frames).
func (s *Store) rebuild(stored uint64) error {
	s.mu.blocks = btreemap.New[uint64, *record](32, cmpU64)
	// Frames past s.frames but within stored are legal records on a region
	// that shrank; track them to report ErrTooSmall, not ErrCorrupt.
	s.mu.used = newFrameBitmap(s.frames)
	owner := make(map[uint64]uint64) // frame → ID, only for frames ≥ s.frames
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
		frame, flags, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("block %#x: %w", id, err)
		}
		switch {
		case frame >= stored:
			return fmt.Errorf("block %#x claims frame %d, the store has %d frames: %w", id, frame, stored, ErrCorrupt)
		case frame >= s.frames:
			if other, dup := owner[frame]; dup {
				return fmt.Errorf("blocks %#x and %#x both claim frame %d: %w", other, id, frame, ErrCorrupt)
			}
			owner[frame] = id
			if tooSmall == nil {
				tooSmall = fmt.Errorf("pmem region has %d frames but block %#x uses frame %d; it must not shrink below the frames in use: %w",
					s.frames, id, frame, ErrTooSmall)
			}
			continue
		case !s.mu.used.set(frame):
			var other uint64
			s.mu.blocks.AscendFunc(btreemap.Min[uint64](), btreemap.Max[uint64](), func(k uint64, r *record) bool {
				if r.frame == frame {
					other = k
					return false
				}
				return true
			})
			return fmt.Errorf("blocks %#x and %#x both claim frame %d: %w", other, id, frame, ErrCorrupt)
		}
		r := &record{frame: frame, flags: flags, unclean: flags&flagMarkedRW != 0}
		s.mu.blocks.ReplaceOrInsert(id, r)
		s.mu.live++
		if r.unclean {
			s.mu.unclean++
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("scanning blocks: %w", err)
	}
	if tooSmall != nil {
		return tooSmall
	}
	if s.mu.unclean > 0 {
		s.log.Warn("alloc2m: blocks were mapped read-write at an unclean stop and may hold torn writes",
			"dir", s.dir, "blocks", s.mu.unclean)
	}
	return nil
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

// Alloc allocates block id: it picks the lowest free frame, calls
// prepare(frame) (which must leave the frame zeroed and durable), then makes
// the allocation durable. If prepare or the commit fails, nothing changes:
// the frame returns to the pool and id stays free. prepare may be nil.
func (s *Store) Alloc(id uint64, prepare func(frame uint64) error) error {
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
	frame, ok := s.mu.used.take()
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("alloc %#x: all %d frames in use: %w", id, s.frames, ErrNoSpace)
	}
	r := &record{frame: frame, state: stateAllocating}
	s.mu.blocks.ReplaceOrInsert(id, r)
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	undo := func() {
		s.mu.Lock()
		s.mu.blocks.Delete(id)
		s.mu.used.put(frame)
		s.mu.Unlock()
	}
	if prepare != nil {
		if err := prepare(frame); err != nil {
			undo()
			return fmt.Errorf("alloc %#x: preparing frame %d: %w", id, frame, err)
		}
	}
	if err := s.commit(blockKey(id), encodeRecord(frame, 0), pebble.Sync); err != nil {
		undo()
		return fmt.Errorf("alloc %#x: %w", id, err)
	}
	s.mu.Lock()
	r.state = stateLive
	s.mu.live++
	s.mu.Unlock()
	return nil
}

// Free releases block id; its frame becomes reusable once the deletion is
// durable. The caller zeroes frames before reuse (Alloc's prepare).
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
	s.mu.used.put(r.frame)
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
	if err := s.commit(blockKey(id), encodeRecord(r.frame, flags), wo); err != nil {
		s.mu.Lock()
		r.state = stateLive
		s.mu.Unlock()
		return fmt.Errorf("%s %#x: %w", op, id, err)
	}
	s.mu.Lock()
	r.flags = flags
	if !mark && r.unclean {
		r.unclean = false
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
	start := btreemap.GE(first)
	for {
		buf = buf[:0]
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			return
		}
		s.mu.blocks.AscendFunc(start, btreemap.LE(last), func(id uint64, r *record) bool {
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
		if len(buf) < walkChunk {
			return
		}
		start = btreemap.GT(buf[len(buf)-1].ID)
	}
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Frames:     s.frames,
		FreeFrames: s.mu.used.free(),
		Blocks:     s.mu.live,
		Unclean:    s.mu.unclean,
	}
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
func fmtUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
