package tier

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/brick-storage/brick/internal/oscall"
)

// osFile is the tier file on the operating system's file system.
type osFile struct{ *os.File }

var _ File = osFile{}

// OpenOSFile opens path read-write, creating it (and its directory) if
// needed; a new file's directory entry is synced before it returns.
func OpenOSFile(path string) (File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, err
		}
	}
	return osFile{f}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", f.Name())
	}
	return st.Size(), nil
}

// Allocate reserves the space with fallocate, or where the file system
// lacks it, by writing zeros past the current end.
func (f osFile) Allocate(size int64) error {
	err := oscall.Preallocate(f.File, size)
	if err == nil {
		return f.Sync()
	}
	if !errors.Is(err, oscall.ErrNotSupported) {
		return err
	}
	cur, err := f.Size()
	if err != nil {
		return err
	}
	zeros := make([]byte, 1<<20)
	for off := cur; off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return fmt.Errorf("reserving %d bytes: %w", size, err)
		}
	}
	return f.Sync()
}
