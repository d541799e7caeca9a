//go:build !linux

package pmem

import "fmt"

// FileOptions configures OpenFile.
type FileOptions struct {
	// Size is the image size in bytes for a new file; see the Linux build.
	Size int64
	// Sparse: see the Linux build.
	Sparse bool
}

// OpenFile is only implemented on Linux.
func OpenFile(path string, opts FileOptions) (Region, error) {
	return nil, fmt.Errorf("pmem: file images need Linux: %w", ErrNotSupported)
}

// NewAnonymous is only implemented on Linux.
func NewAnonymous(size int64) (Region, error) {
	return nil, fmt.Errorf("pmem: anonymous regions need Linux: %w", ErrNotSupported)
}
