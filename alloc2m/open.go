package alloc2m

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/brick-storage/brick/internal/oscall"
)

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
// roLockFS) and Pebble opens read-only. A View has no method that
// changes the store, and the store under it refuses changes besides.
func OpenReadOnly(dir string) (*View, error) {
	s, err := open(dir, Options{}, true)
	if err != nil {
		return nil, err
	}
	return &View{store: s}, nil
}

func open(dir string, opts Options, readOnly bool) (_ *Store, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	fsys, err := prepareDir(dir, opts, readOnly)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, fsys, readOnly)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	plog := newPebbleLogger(logger)
	if err := preflight(dir, fsys, lock, plog, opts, readOnly); err != nil {
		return nil, err
	}
	db, err := openDB(dir, fsys, lock, plog, opts, readOnly)
	if err != nil {
		return nil, err
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

// prepareDir returns the file system to open dir on, having checked that
// dir holds a store where one must exist and created it where one may be
// made.
func prepareDir(dir string, opts Options, readOnly bool) (vfs.FS, error) {
	fsys := opts.FS
	if fsys == nil {
		fsys = vfs.Default
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
	return fsys, nil
}

// lockDir takes Pebble's directory lock ourselves (Pebble takes it in
// read-only mode too) so that "in use" can be told apart from other
// failures.
func lockDir(dir string, fsys vfs.FS, readOnly bool) (*pebble.Lock, error) {
	lock, err := pebble.LockDirectory(dir, fsys)
	if err == nil {
		return lock, nil
	}
	if isLockConflict(err) {
		if readOnly {
			return nil, fmt.Errorf("metadata store %s is in use by a running brickd; stop it or ask it with brickctl list: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("metadata store %s is in use by another process (a running brickd or brickctl): %w", dir, ErrLocked)
	}
	return nil, fmt.Errorf("alloc2m: locking metadata store %s: %w", dir, err)
}

// preflight refuses, before Pebble opens dir, damaged logs, a store that
// is not the one expected and a disk without room for what opening writes.
func preflight(dir string, fsys vfs.FS, lock *pebble.Lock, plog *pebbleLogger, opts Options, readOnly bool) error {
	if err := checkWALs(fsys, dir); err != nil {
		return fmt.Errorf("alloc2m: metadata store %s: %w", dir, err)
	}
	if readOnly {
		return nil
	}
	// An existing store is vouched for read-only first: a writable open
	// flushes what it replays, starts a new log and rewrites its OPTIONS,
	// and none of that may happen to a store that is refused.
	if ok, err := exists(fsys, dir); err != nil {
		return err
	} else if ok {
		if err := vouch(dir, fsys, lock, plog, opts); err != nil {
			return err
		}
	}
	return checkFreeSpace(fsys, dir)
}

// openDB opens Pebble on dir, which lock already holds.
func openDB(dir string, fsys vfs.FS, lock *pebble.Lock, plog *pebbleLogger, opts Options, readOnly bool) (*pebble.DB, error) {
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
	if err == nil {
		return db, nil
	}
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
