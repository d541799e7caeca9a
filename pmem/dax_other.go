//go:build !linux

package pmem

import "fmt"

// OpenDevDAX is only implemented on Linux.
func OpenDevDAX(path string, opts Options) (Region, error) {
	return nil, fmt.Errorf("pmem: device-DAX needs Linux: %w", ErrNotSupported)
}

// OpenFSDAX is only implemented on Linux.
func OpenFSDAX(path string, opts Options) (Region, error) {
	return nil, fmt.Errorf("pmem: fsdax needs Linux: %w", ErrNotSupported)
}

// IsDAX is only implemented on Linux; it reports false.
func IsDAX(path string) (bool, error) { return false, nil }

func openAuto(path string, opts Options) (Region, error) {
	return OpenFile(path, FileOptions{Size: opts.Size})
}
