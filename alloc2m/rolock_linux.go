//go:build linux

package alloc2m

import (
	"errors"
	"io"
	"io/fs"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// sharedLock takes a POSIX read lock on the existing file name, opened
// read-only. A brickd's write lock on it makes this fail with EAGAIN or
// EACCES, which the caller reports as "in use".
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
	lk := syscall.Flock_t{Type: syscall.F_RDLCK, Whence: io.SeekStart}
	if err := syscall.FcntlFlock(fd, syscall.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
