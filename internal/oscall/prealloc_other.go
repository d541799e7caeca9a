//go:build !linux

package oscall

import (
	"fmt"
	"os"
)

// Preallocate needs fallocate(2); elsewhere the caller writes zeros.
func Preallocate(f *os.File, size int64) error {
	return fmt.Errorf("preallocating %s needs Linux: %w", f.Name(), ErrNotSupported)
}

// ReadLock needs fcntl(2) locks as Linux has them; elsewhere the caller
// reads without one.
func ReadLock(fd uintptr) error {
	return fmt.Errorf("shared file locks need Linux: %w", ErrNotSupported)
}
