package alloc2m

import (
	"errors"
	"io"
	"io/fs"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
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
		(errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM))
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
