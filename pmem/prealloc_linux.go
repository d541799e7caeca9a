//go:build linux

package pmem

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	bytesize "github.com/brick-storage/brick/internal/size"
)

// reserveImage gives every page of the first size bytes of the image f a
// disk block, extending the file to size. A page without one is written
// through the mapping only when a store faults it in; on a full file system
// that fault is SIGBUS, which kills brickd, and can happen at any client's
// RDMA write. So a new image is allocated whole, and an image left sparse by
// an older brick is allocated before it is mapped. A file system without
// fallocate gets the holes written with zeros instead. Not enough space:
// ErrNoSpace, with the numbers.
func reserveImage(f *os.File, path string, size int64, created bool) error {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("pmem: stat image %s: %w", path, err)
	}
	allocated := st.Blocks * 512
	if st.Size == size && allocated >= size {
		return nil
	}
	err := unix.Fallocate(fd, 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		err = fillHoles(f, size)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.EFBIG):
		free := "an unknown amount"
		var fs unix.Statfs_t
		if unix.Fstatfs(fd, &fs) == nil {
			free = bytesize.Format(int64(fs.Bavail) * fs.Bsize)
		}
		if created {
			return fmt.Errorf("pmem image %s needs %s of disk space and its file system has %s free (%v); free space there, put the image on a larger file system, or give a smaller size: %w",
				path, bytesize.Format(size), free, err, ErrNoSpace)
		}
		return fmt.Errorf("pmem image %s is sparse (%s of its %s have disk blocks; an older brickd created it so), and its file system has %s free to allocate the rest (%v); free space there or move the image to a larger file system: %w",
			path, bytesize.Format(allocated), bytesize.Format(size), free, err, ErrNoSpace)
	}
	return fmt.Errorf("pmem: allocating disk space for image %s: %w", path, err)
}

// fillHoles writes zeros into every hole of the first size bytes of f
// (extending it to size first), for file systems without fallocate.
func fillHoles(f *os.File, size int64) error {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Size < size {
		if err := unix.Ftruncate(fd, size); err != nil {
			return err
		}
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		hole, err := unix.Seek(fd, off, unix.SEEK_HOLE)
		if err != nil || hole >= size {
			return err
		}
		data, err := unix.Seek(fd, hole, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			data, err = size, nil // a hole up to the end
		}
		if err != nil {
			return err
		}
		for p := hole; p < min(data, size); {
			n, err := unix.Pwrite(fd, zeros[:min(int64(len(zeros)), min(data, size)-p)], p)
			if err != nil {
				return err
			}
			p += int64(n)
		}
		off = data
	}
	return f.Sync()
}
