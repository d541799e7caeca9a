package alloc2m

import (
	"errors"
	"io"
	"io/fs"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/brick-storage/brick/internal/oscall"
)

// roLockFS is the file system of a read-only open. Pebble locks a store's
// directory even to read it, by creating LOCK and taking a write lock on
// it; on read-only media (a read-only mount, a snapshot, a write-protected
// copy) creating the file fails and the store could not be read at all.
// When LOCK cannot be opened for writing, Lock takes a shared lock on it
// instead: that still conflicts with a brickd holding the directory
// (through another, writable mount), and needs no write access.
type roLockFS struct{ vfs.FS }

func (f roLockFS) Lock(name string) (io.Closer, error) {
	c, err := f.FS.Lock(name)
	if err == nil || !cannotWrite(err) {
		return c, err
	}
	return sharedLock(f.FS, name)
}

// cannotWrite reports whether err is a failure to open a file for writing
// (as opposed to a lock conflict, which comes back as a bare errno).
func cannotWrite(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) &&
		oscall.WriteRefused(err)
}

// sharedLock takes a POSIX read lock on the existing file name, opened
// read-only. A brickd's write lock on it makes this fail with EAGAIN or
// EACCES, which the caller reports as "in use". Where the system has no
// such locks, read-only media are read without one.
func sharedLock(fsys vfs.FS, name string) (io.Closer, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nopCloser{}, nil // no brickd ever opened the store for writing
	}
	if err != nil {
		return nil, err
	}
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return f, nil // not an operating-system file (a test's memory FS)
	}
	if err := oscall.ReadLock(fd); err != nil {
		f.Close()
		if errors.Is(err, oscall.ErrNotSupported) {
			return nopCloser{}, nil
		}
		return nil, err
	}
	return f, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
