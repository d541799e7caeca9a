package pmem

import (
	"fmt"
	"strings"
)

// Options configure Open and the DAX backends.
type Options struct {
	// Size is the image size in bytes for a new file (a multiple of
	// FrameSize, at least two frames), or for anonymous memory. Zero means
	// the existing file's or device's size. A non-zero Size that differs
	// from an existing image or device is refused with imghdr.ErrGeometry.
	Size int64
	// Backend forces a backend; "" chooses from the path (see Open).
	Backend Kind
	// SysfsRoot is where sysfs is read from ("" means /sys); tests point
	// it at fake trees.
	SysfsRoot string
	// Domain declares the persistence domain of DAX memory instead of
	// reading it from sysfs (DomainUnknown, the zero value, detects). For
	// platforms whose firmware does not report it, on the administrator's
	// word.
	Domain Domain
	// Existing: the image (file or device) must exist and carry a
	// superblock; Open creates and formats nothing (ErrNoImage,
	// ErrUnformatted). brickd sets it when a metadata store exists, so
	// that a lost or zeroed image is refused instead of replaced.
	// Ignored for anonymous memory.
	Existing bool
	// Sparse: a file image (plain or fsdax) is created and kept without
	// disk space reserved; see FileOptions.Sparse. Tests and benchmarks
	// only.
	Sparse bool
}

// Open opens the region at path, choosing the backend:
//
//   - opts.Backend, when set (KindAnonymous ignores path);
//   - device-DAX when path is a character device (/dev/daxX.Y);
//   - fsdax when the file (created with opts.Size if missing) is on
//     a DAX file system, as statx's STATX_ATTR_DAX says;
//   - a plain file otherwise.
//
// The region's Properties say what the choice can promise; brickd reports
// them at start-up.
func Open(path string, opts Options) (Region, error) {
	switch opts.Backend {
	case KindAnonymous:
		return NewAnonymous(opts.Size)
	case KindFile:
		return OpenFile(path, FileOptions{Size: opts.Size, Existing: opts.Existing, Sparse: opts.Sparse})
	case KindDevDAX:
		return OpenDevDAX(path, opts)
	case KindFSDAX:
		return OpenFSDAX(path, opts)
	case "":
		return openAuto(path, opts)
	}
	return nil, fmt.Errorf("pmem: unknown backend %q (want %s, %s, %s or %s): %w",
		opts.Backend, KindDevDAX, KindFSDAX, KindFile, KindAnonymous, ErrNotSupported)
}

// ParseKind parses a backend name as brickd's --pmem-backend gives it;
// "auto" and "" mean choose from the path.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case KindDevDAX, KindFSDAX, KindFile, KindAnonymous:
		return k, nil
	case "", "auto":
		return "", nil
	}
	return "", fmt.Errorf("pmem backend %q: want auto, %s, %s, %s or %s: %w",
		s, KindDevDAX, KindFSDAX, KindFile, KindAnonymous, ErrNotSupported)
}
