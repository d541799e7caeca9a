//go:build linux

package pmem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/internal/imghdr"
)

// FileOptions configures OpenFile.
type FileOptions struct {
	// Size is the image size in bytes for a new file: a multiple of
	// FrameSize, at least two frames (superblock + one data frame). Zero
	// means use the existing file's size. An existing file whose size
	// differs from a non-zero Size is refused with imghdr.ErrGeometry.
	Size int64
	// Existing: the image must exist and be formatted; OpenFile writes
	// nothing to create or format one (ErrNoImage, ErrUnformatted). For a
	// caller whose metadata says the image holds blocks.
	Existing bool
	// Sparse leaves the image without disk space reserved: a new one is
	// only truncated to Size, an existing sparse one is not filled. For
	// tests and benchmarks that need a brick far larger than the disk
	// (its metadata, not its data): a frame's first write then allocates
	// disk blocks, and on a full file system that is ENOSPC from Zero or a
	// SIGBUS that kills the process at a client's RDMA write. Never for
	// data that must be kept.
	Sparse bool
}

// fileRegion is a plain file mapped MAP_SHARED, or (dax) a file on a DAX
// file system mapped MAP_SHARED_VALIDATE|MAP_SYNC and flushed by the CPU.
type fileRegion struct {
	mapping
	path  string
	f     *os.File // holds the flock until Close
	dax   bool
	props Properties
}

var _ Region = (*fileRegion)(nil)

// OpenFile maps the pmem image at path, creating it if it does not exist
// and formatting its superblock if the header is all zero (neither with
// opts.Existing). Every byte of the image has disk space behind it before
// it is mapped (see reserveImage): a new image is allocated whole, an old
// sparse one is allocated at open, and either is refused with ErrNoSpace
// when the file system cannot hold it. The image is flock'ed for as long
// as it is open: a second OpenFile of the same image, from any process,
// fails with ErrLocked.
func OpenFile(path string, opts FileOptions) (Region, error) {
	return openFileMode(path, opts, fileMode{})
}

// openFileMode opens (or creates) the image file and maps it.
func openFileMode(path string, opts FileOptions, mode fileMode) (Region, error) {
	if opts.Size != 0 {
		if _, ok := checkFrameCount(opts.Size); !ok {
			return nil, fmt.Errorf("pmem: image %s: size %d is not a multiple of %d bytes of at least 2 frames: %w",
				path, opts.Size, FrameSize, ErrInvalidSize)
		}
	}
	f, err := openImage(path, opts.Existing)
	if err != nil {
		return nil, err
	}
	r, err := openFile(f, path, opts, mode)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// openImage opens the image file at path read-write, creating it unless
// it must already exist.
func openImage(path string, existing bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE
	if existing {
		flags = os.O_RDWR
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if existing && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pmem image %s does not exist: %w", path, ErrNoImage)
	}
	if err != nil {
		return nil, fmt.Errorf("pmem: opening image: %w", err)
	}
	return f, nil
}

// fileMode selects between a plain file and fsdax.
type fileMode struct {
	dax    bool
	domain Domain // fsdax only
}

func openFile(f *os.File, path string, opts FileOptions, mode fileMode) (*fileRegion, error) {
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pmem image %s is in use by another process: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("pmem: locking image %s: %w", path, err)
	}
	size, created, err := imageSize(fd, path, opts)
	if err != nil {
		return nil, err
	}
	if err := sizeImage(f, path, size, created, opts.Sparse); err != nil {
		return nil, err
	}
	r := &fileRegion{path: path, f: f, dax: mode.dax}
	r.props = Properties{Kind: KindFile, Persistent: true, FlushMethod: FlushMsync}
	flags := unix.MAP_SHARED
	if mode.dax {
		if !cpuFlushSupported() {
			return nil, fmt.Errorf("pmem: image %s is on DAX but this CPU has no user-space cache flush: %w", path, ErrNotSupported)
		}
		if mapSync == 0 {
			return nil, fmt.Errorf("pmem: MAP_SYNC is not available on this architecture: %w", ErrNotSupported)
		}
		flags = unix.MAP_SHARED_VALIDATE | mapSync
		r.props = daxProperties(KindFSDAX, mode.domain)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, flags)
	if mode.dax && errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("pmem: image %s is not on a DAX file system: the kernel refused MAP_SYNC, so CPU flushes could not make it persistent (use the plain file backend): %w", path, ErrNotSupported)
	}
	if err != nil {
		return nil, fmt.Errorf("pmem: mapping image %s: %w", path, err)
	}
	r.mapping.data = data
	sb, formatted, err := formatOrValidate(data, size, !opts.Existing)
	if err == nil && formatted {
		err = r.syncHeader(created)
	}
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("pmem: image %s: %w", path, err)
	}
	r.setSuperblock(sb)
	return r, nil
}

// imageSize is the size the locked image at fd has or, if it is empty
// and may be created, is to have (created). The size must be a whole
// number of frames that fits the address space.
func imageSize(fd int, path string, opts FileOptions) (size int64, created bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, false, fmt.Errorf("pmem: stat image %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, false, fmt.Errorf("pmem: image %s is not a regular file (device DAX is a different backend): %w", path, ErrNotSupported)
	}
	size = st.Size
	switch {
	case size == 0 && opts.Existing:
		return 0, false, fmt.Errorf("pmem image %s is empty: %w", path, ErrUnformatted)
	case size == 0 && opts.Size == 0:
		return 0, false, fmt.Errorf("pmem: image %s is empty and no size was given: %w", path, ErrInvalidSize)
	case size == 0:
		size = opts.Size
		created = true
	case opts.Size != 0 && size != opts.Size:
		return 0, false, fmt.Errorf("pmem: image %s is %d bytes, configured size is %d: %w", path, size, opts.Size, imghdr.ErrGeometry)
	}
	if _, ok := checkFrameCount(size); !ok {
		return 0, false, fmt.Errorf("pmem: image %s is %d bytes, not a multiple of %d of at least 2 frames: %w", path, size, FrameSize, imghdr.ErrGeometry)
	}
	if uint64(size) > uint64(^uint(0)>>1) {
		return 0, false, fmt.Errorf("pmem: image %s of %d bytes does not fit the address space: %w", path, size, ErrInvalidSize)
	}
	return size, created, nil
}

// sizeImage gives a created image its size, sparse or reserved, and
// reserves an existing one's blocks unless sparse.
func sizeImage(f *os.File, path string, size int64, created, sparse bool) error {
	fd := int(f.Fd())
	if sparse {
		if created {
			if err := unix.Ftruncate(fd, size); err != nil {
				_ = os.Remove(path)
				return fmt.Errorf("pmem: sizing sparse image %s: %w", path, err)
			}
		}
		return nil
	}
	if err := reserveImage(f, path, size, created); err != nil {
		if created {
			// Leave nothing behind: a half-allocated empty image would
			// be taken for one that exists at the next start.
			_ = unix.Ftruncate(fd, 0)
			_ = os.Remove(path)
		}
		return err
	}
	return nil
}

// syncHeader makes a freshly written superblock durable, and for a new file
// also its size and directory entry.
func (r *fileRegion) syncHeader(created bool) error {
	if r.dax {
		if err := r.cpuFlush(r.data[:sbAreaSize]); err != nil {
			return fmt.Errorf("flushing superblock: %w", err)
		}
	} else if err := unix.Msync(r.data[:unix.Getpagesize()], unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync superblock: %w", err)
	}
	if !created {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	d, err := os.Open(filepath.Dir(r.path))
	if err != nil {
		return fmt.Errorf("opening parent directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync parent directory: %w", err)
	}
	return nil
}

func (r *fileRegion) Kind() Kind             { return r.props.Kind }
func (r *fileRegion) Persistent() bool       { return r.props.Persistent }
func (r *fileRegion) Path() string           { return r.path }
func (r *fileRegion) Properties() Properties { return r.props }

// cpuFlush flushes b by cache lines (SFENCE only under eADR).
func (r *fileRegion) cpuFlush(b []byte) error {
	if r.props.SkipCPUFlush {
		Fence()
		return nil
	}
	return CPUFlush(b)
}

// Flush writes back the pages covering b and waits for the device; on
// fsdax it flushes the cache lines covering b instead.
func (r *fileRegion) Flush(b []byte) error {
	if r.dax {
		if err := r.checkRange(b); err != nil {
			return err
		}
		return r.cpuFlush(b)
	}
	pages, err := r.pageRange(b)
	if err != nil || pages == nil {
		return err
	}
	if err := unix.Msync(pages, unix.MS_SYNC); err != nil {
		return fmt.Errorf("pmem: msync %s: %w", r.path, err)
	}
	return nil
}

// Bind records b in the superblock and makes it durable.
func (r *fileRegion) Bind(b Binding) error { return r.bind(b, r.Flush) }

// ZeroExtents zeroes data frame i with FALLOC_FL_ZERO_RANGE, without the
// sync (ExtentZeroer): the caller flushes a run of frames at once. Not on
// fsdax, where changing extents waits for every pin on the pages.
func (r *fileRegion) ZeroExtents(i uint64) (bool, error) {
	if r.dax {
		return false, nil
	}
	if i >= r.Frames() {
		return false, fmt.Errorf("pmem: zeroing frame %d of %s, which has %d: %w", i, r.path, r.Frames(), ErrRange)
	}
	off := int64(i+1) * FrameSize
	err := unix.Fallocate(int(r.f.Fd()), unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, FrameSize)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS):
		return false, nil
	}
	return false, fmt.Errorf("pmem: zeroing frame %d of %s: %w", i, r.path, err)
}

// SyncExtents makes the extent changes of ZeroExtents durable
// (ExtentZeroer): fdatasync, which covers the file's extent tree as msync
// of a range does, once for any number of frames.
func (r *fileRegion) SyncExtents() error {
	if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
		return fmt.Errorf("pmem: fdatasync %s: %w", r.path, err)
	}
	return nil
}

// Close unmaps the image and releases its lock.
func (r *fileRegion) Close() error {
	if err := r.unmap(); err != nil {
		return err
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("pmem: closing image %s: %w", r.path, err)
	}
	return nil
}
