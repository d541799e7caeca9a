//go:build linux

package pmem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/internal/imghdr"
)

// devdaxRegion is a device-DAX character device mapped MAP_SHARED.
type devdaxRegion struct {
	mapping
	path  string
	f     *os.File // holds the flock until Close
	props Properties
}

var _ Region = (*devdaxRegion)(nil)

// OpenDevDAX maps the device-DAX instance at path (/dev/daxX.Y). Size and
// alignment come from sysfs under opts.SysfsRoot; the alignment must be at
// least 2 MiB. An all-zero header is formatted (and flushed), unless
// opts.Existing says it must already be (ErrUnformatted); anything else
// must be a brick superblock. The whole device is the region: opts.Size,
// if set, must equal the device size. The device is flock'ed while open.
func OpenDevDAX(path string, opts Options) (Region, error) {
	if !cpuFlushSupported() {
		return nil, fmt.Errorf("pmem: device-DAX %s: this CPU has no user-space cache flush: %w", path, ErrNotSupported)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("pmem: device-DAX %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil, fmt.Errorf("pmem: %s is not a character device, so not device-DAX: %w", path, ErrNotSupported)
	}
	name := devDAXName(opts.SysfsRoot, path, uint64(st.Rdev)) // Rdev's type varies by architecture
	info, err := ReadDevDAXInfo(opts.SysfsRoot, name)
	if err != nil {
		return nil, err
	}
	if err := info.check(); err != nil {
		return nil, err
	}
	if opts.Size != 0 && opts.Size != info.Size {
		return nil, fmt.Errorf("pmem: device-DAX %s is %d bytes, configured size is %d: %w", path, info.Size, opts.Size, imghdr.ErrGeometry)
	}
	if uint64(info.Size) > uint64(^uint(0)>>1) {
		return nil, fmt.Errorf("pmem: device-DAX %s of %d bytes does not fit the address space: %w", path, info.Size, ErrInvalidSize)
	}
	domain, err := resolveDomain(opts)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("pmem: opening device-DAX: %w", err)
	}
	r, err := mapDevDAX(f, path, info, domain, !opts.Existing)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func mapDevDAX(f *os.File, path string, info DevDAXInfo, domain Domain, format bool) (*devdaxRegion, error) {
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("pmem device %s is in use by another process: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("pmem: locking device-DAX %s: %w", path, err)
	}
	data, err := unix.Mmap(fd, 0, int(info.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("pmem: mapping device-DAX %s (%d bytes, %d-byte alignment): %w", path, info.Size, info.Align, err)
	}
	r := &devdaxRegion{path: path, f: f, props: daxProperties(KindDevDAX, domain)}
	r.mapping.data = data
	sb, formatted, err := formatOrValidate(data, info.Size, format)
	if err == nil && formatted {
		err = r.Flush(data[:sbAreaSize])
	}
	if err != nil {
		_ = unix.Munmap(data)
		return nil, fmt.Errorf("pmem: device-DAX %s: %w", path, err)
	}
	r.setSuperblock(sb)
	return r, nil
}

// devDAXName is the sysfs name of the device: the path's base name when it
// looks like daxN.M, else what /sys/dev/char/MAJ:MIN links to.
func devDAXName(sysfsRoot, path string, rdev uint64) string {
	if name := filepath.Base(path); validDaxName(name) {
		return name
	}
	if sysfsRoot == "" {
		sysfsRoot = DefaultSysfsRoot
	}
	link := filepath.Join(sysfsRoot, "dev", "char", fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev)))
	if target, err := os.Readlink(link); err == nil {
		return filepath.Base(target)
	}
	return filepath.Base(path)
}

func (r *devdaxRegion) Kind() Kind             { return KindDevDAX }
func (r *devdaxRegion) Persistent() bool       { return r.props.Persistent }
func (r *devdaxRegion) Path() string           { return r.path }
func (r *devdaxRegion) Properties() Properties { return r.props }

// Flush writes back the cache lines covering b (only fences under eADR).
func (r *devdaxRegion) Flush(b []byte) error {
	if err := r.checkRange(b); err != nil {
		return err
	}
	if r.props.SkipCPUFlush {
		Fence()
		return nil
	}
	return CPUFlush(b)
}

// Bind records b in the superblock and flushes it.
func (r *devdaxRegion) Bind(b Binding) error { return r.bind(b, r.Flush) }

// Close unmaps the device and releases its lock.
func (r *devdaxRegion) Close() error {
	if err := r.unmap(); err != nil {
		return err
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("pmem: closing device-DAX %s: %w", r.path, err)
	}
	return nil
}
