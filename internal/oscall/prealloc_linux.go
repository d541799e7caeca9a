//go:build linux

package oscall

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Preallocate reserves disk blocks for the first size bytes of f and
// extends it to size, with fallocate(2) (mode 0): later writes into the
// range cannot fail for lack of space. A file system without fallocate
// gives an error wrapping ErrNotSupported, and the caller writes zeros
// instead.
func Preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("fallocate %s: %v: %w", f.Name(), err, ErrNotSupported)
	}
	return fmt.Errorf("reserving %d bytes for %s: %w", size, f.Name(), err)
}

// ReadLock takes a POSIX shared (read) lock on the whole of the open file
// fd without waiting. A write lock held elsewhere makes it fail with an
// error for which LockConflict is true.
func ReadLock(fd uintptr) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0}
	return unix.FcntlFlock(fd, unix.F_SETLK, &lk)
}
