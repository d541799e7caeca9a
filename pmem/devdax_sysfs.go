package pmem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/brick-storage/brick/internal/imghdr"
)

// MinDevDAXAlign is the smallest device-DAX alignment brick accepts: with
// 4 KiB pages a 2 MiB frame could straddle device pages that the kernel
// maps separately, and RNIC registrations of such memory are slow.
const MinDevDAXAlign = 2 << 20

// DevDAXInfo is what sysfs says about a device-DAX instance.
type DevDAXInfo struct {
	Name  string // "dax0.0"
	Size  int64  // bytes
	Align int64  // bytes
}

// ReadDevDAXInfo reads size and alignment of device-DAX instance name
// ("dax0.0") under sysfsRoot ("" means /sys): from
// bus/dax/devices/NAME/{size,align}, else class/dax/NAME/..., and for
// kernels that keep the alignment per region, .../device/dax_region/align.
func ReadDevDAXInfo(sysfsRoot, name string) (DevDAXInfo, error) {
	if sysfsRoot == "" {
		sysfsRoot = DefaultSysfsRoot
	}
	info := DevDAXInfo{Name: name}
	if !validDaxName(name) {
		return info, fmt.Errorf("pmem: %q is not a device-DAX name such as dax0.0: %w", name, ErrNotSupported)
	}
	dirs := []string{
		filepath.Join(sysfsRoot, "bus", "dax", "devices", name),
		filepath.Join(sysfsRoot, "class", "dax", name),
	}
	var dir string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "size")); err == nil {
			dir = d
			break
		}
	}
	if dir == "" {
		return info, fmt.Errorf("pmem: device-DAX %s is not in sysfs (looked in %s and %s): %w", name, dirs[0], dirs[1], ErrNotSupported)
	}
	var err error
	if info.Size, err = readSysfsInt(filepath.Join(dir, "size")); err != nil {
		return info, err
	}
	alignFiles := []string{
		filepath.Join(dir, "align"),
		filepath.Join(dir, "device", "dax_region", "align"),
	}
	found := false
	for _, p := range alignFiles {
		info.Align, err = readSysfsInt(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return info, err
		}
		found = true
		break
	}
	if !found {
		return info, fmt.Errorf("pmem: device-DAX %s: sysfs gives no alignment (%s): %w", name, alignFiles[0], ErrNotSupported)
	}
	return info, nil
}

// check validates the geometry brick needs.
func (info DevDAXInfo) check() error {
	if info.Align < MinDevDAXAlign || info.Align&(info.Align-1) != 0 {
		return fmt.Errorf("pmem: device-DAX %s has %d-byte alignment; brick needs 2 MiB or larger (ndctl create-namespace --mode=devdax --align=2M): %w",
			info.Name, info.Align, ErrNotSupported)
	}
	if _, ok := checkFrameCount(info.Size); !ok {
		return fmt.Errorf("pmem: device-DAX %s is %d bytes, not a multiple of %d of at least 2 frames: %w", info.Name, info.Size, FrameSize, imghdr.ErrGeometry)
	}
	return nil
}

// validDaxName accepts "daxN.M".
func validDaxName(name string) bool {
	rest, ok := strings.CutPrefix(name, "dax")
	if !ok {
		return false
	}
	a, b, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(a, 10, 32)
	_, err2 := strconv.ParseUint(b, 10, 32)
	return err1 == nil && err2 == nil
}

// readSysfsInt reads a decimal (or 0x-prefixed) integer attribute.
func readSysfsInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("pmem: reading %s: %w", p, err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 0, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("pmem: %s holds %q, not a size: %w", p, strings.TrimSpace(string(b)), imghdr.ErrGeometry)
	}
	return v, nil
}
