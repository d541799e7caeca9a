//go:build linux

package pmem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// IsDAX reports whether the file at path is accessed through DAX, as statx
// reports it (STATX_ATTR_DAX, Linux 5.8 and later). Kernels that do not
// report the attribute give false.
func IsDAX(path string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, fmt.Errorf("pmem: statx %s: %w", path, err)
	}
	return statxDAX(&st), nil
}

func statxDAX(st *unix.Statx_t) bool {
	return st.Attributes_mask&unix.STATX_ATTR_DAX != 0 && st.Attributes&unix.STATX_ATTR_DAX != 0
}

// fdIsDAX is IsDAX on an open file.
func fdIsDAX(f *os.File, path string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st); err != nil {
		return false, fmt.Errorf("pmem: statx %s: %w", path, err)
	}
	return statxDAX(&st), nil
}

// OpenFSDAX maps the image at path, a file on a DAX file system, with
// MAP_SHARED_VALIDATE|MAP_SYNC; it is created (allocated whole) with
// opts.Size if it does not exist and formatted like OpenFile. Data is made
// durable by CPU cache flushes alone (no msync). If the kernel refuses MAP_SYNC (the file
// is not on DAX) the error wraps ErrNotSupported and says so. The image is
// flock'ed while open.
func OpenFSDAX(path string, opts Options) (Region, error) {
	domain, err := resolveDomain(opts)
	if err != nil {
		return nil, err
	}
	return openFileMode(path, FileOptions{Size: opts.Size, Existing: opts.Existing, Sparse: opts.Sparse}, fileMode{dax: true, domain: domain})
}

// openAuto is Open without a forced backend.
func openAuto(path string, opts Options) (Region, error) {
	var st unix.Stat_t
	err := unix.Stat(path, &st)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR:
		return OpenDevDAX(path, opts)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("pmem: image %s: %w", path, err)
	case err != nil && strings.HasPrefix(filepath.Clean(path), "/dev/"):
		// Never create a plain file where a device was meant.
		return nil, fmt.Errorf("pmem: device %s does not exist (is the device-DAX namespace created? ndctl list -N): %w", path, ErrNotSupported)
	}
	// A file, existing or not: create it if needed and ask statx. (DAX is
	// a per-inode property; a new file's is only known once it exists.)
	f, err := openImage(path, opts.Existing)
	if err != nil {
		return nil, err
	}
	dax, err := fdIsDAX(f, path)
	f.Close()
	if err != nil {
		return nil, err
	}
	if dax {
		return OpenFSDAX(path, opts)
	}
	return OpenFile(path, FileOptions{Size: opts.Size, Existing: opts.Existing, Sparse: opts.Sparse})
}
