//go:build !linux

package pmem

import (
	"fmt"
	"os"
)

// Preallocate needs fallocate(2); elsewhere the caller writes zeros.
func Preallocate(f *os.File, size int64) error {
	return fmt.Errorf("pmem: preallocating %s needs Linux: %w", f.Name(), ErrNotSupported)
}
