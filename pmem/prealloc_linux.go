//go:build linux

package pmem

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Preallocate reserves disk blocks for the first size bytes of f and
// extends it to size, with fallocate(2) (mode 0): later writes into the
// range cannot fail for lack of space. It lives here because x/sys/unix
// stays inside pmem/; the slow tier (tier/) uses it for its slot file. A
// file system without fallocate gives an error wrapping ErrNotSupported,
// and the caller writes zeros instead.
func Preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("pmem: fallocate %s: %v: %w", f.Name(), err, ErrNotSupported)
	}
	return fmt.Errorf("pmem: reserving %d bytes for %s: %w", size, f.Name(), err)
}
