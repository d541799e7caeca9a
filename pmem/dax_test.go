package pmem

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/internal/imghdr"
)

func TestReadDevDAXInfo(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		dev       string
		size      int64
		align     int64
		err       error
		checkErr  error
		errSubstr string
	}{
		{name: "bus/dax", dev: "dax0.0", files: map[string]string{
			"bus/dax/devices/dax0.0/size": "16777216\n", "bus/dax/devices/dax0.0/align": "2097152\n"},
			size: 16 << 20, align: 2 << 20},
		{name: "class/dax", dev: "dax1.2", files: map[string]string{
			"class/dax/dax1.2/size": "1073741824\n", "class/dax/dax1.2/align": "1073741824\n"},
			size: 1 << 30, align: 1 << 30},
		{name: "region-level align (old kernels)", dev: "dax0.0", files: map[string]string{
			"bus/dax/devices/dax0.0/size": "8388608\n", "bus/dax/devices/dax0.0/device/dax_region/align": "2097152\n"},
			size: 8 << 20, align: 2 << 20},
		{name: "4 KiB alignment refused", dev: "dax0.0", files: map[string]string{
			"bus/dax/devices/dax0.0/size": "8388608\n", "bus/dax/devices/dax0.0/align": "4096\n"},
			size: 8 << 20, align: 4096, checkErr: ErrNotSupported, errSubstr: "2 MiB or larger"},
		{name: "size not frame multiple", dev: "dax0.0", files: map[string]string{
			"bus/dax/devices/dax0.0/size": "3145728\n", "bus/dax/devices/dax0.0/align": "2097152\n"},
			size: 3 << 20, align: 2 << 20, checkErr: imghdr.ErrGeometry},
		{name: "absent", dev: "dax3.0", files: map[string]string{"bus/dax/devices/dax0.0/size": "1"},
			err: ErrNotSupported, errSubstr: "not in sysfs"},
		{name: "no align", dev: "dax0.0", files: map[string]string{"bus/dax/devices/dax0.0/size": "8388608"},
			err: ErrNotSupported},
		{name: "garbage size", dev: "dax0.0", files: map[string]string{
			"bus/dax/devices/dax0.0/size": "lots\n", "bus/dax/devices/dax0.0/align": "2097152\n"}, err: imghdr.ErrGeometry},
		{name: "bad name", dev: "pmem0", files: map[string]string{}, err: ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeTree(t, tt.files)
			info, err := ReadDevDAXInfo(root, tt.dev)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.errSubstr)
				}
				return
			}
			if err != nil || info.Size != tt.size || info.Align != tt.align {
				t.Fatalf("info %+v, err %v; want size %d align %d", info, err, tt.size, tt.align)
			}
			err = info.check()
			if tt.checkErr == nil && err != nil || tt.checkErr != nil && (!errors.Is(err, tt.checkErr) || !strings.Contains(err.Error(), tt.errSubstr)) {
				t.Fatalf("check = %v, want %v containing %q", err, tt.checkErr, tt.errSubstr)
			}
		})
	}
}

// TestOpenDevDAXOnCharDevice runs the whole device-DAX path against
// /dev/zero, which (like a DAX device) is a character device that can be
// mapped MAP_SHARED: sysfs is a fake tree naming it dax0.0 through
// /sys/dev/char/MAJ:MIN.
func TestOpenDevDAXOnCharDevice(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("device-DAX is linux/amd64")
	}
	var st unix.Stat_t
	if err := unix.Stat("/dev/zero", &st); err != nil {
		t.Skip("no /dev/zero")
	}
	if f, err := os.OpenFile("/dev/zero", os.O_RDWR, 0); err != nil {
		t.Skipf("cannot open /dev/zero read-write: %v", err)
	} else {
		f.Close()
	}
	const size = 4 * FrameSize
	root := fakeTree(t, map[string]string{
		"devices/platform/e820_pmem/ndbus0/region0/dax0.0/dax0.0/size":  "8388608\n",
		"devices/platform/e820_pmem/ndbus0/region0/dax0.0/dax0.0/align": "2097152\n",
		"bus/nd/devices/region0/persistence_domain":                     "memory_controller\n",
	})
	if err := os.MkdirAll(filepath.Join(root, "bus/dax/devices"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "dev/char"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "devices/platform/e820_pmem/ndbus0/region0/dax0.0/dax0.0")
	if err := os.Symlink(target, filepath.Join(root, "bus/dax/devices/dax0.0")); err != nil {
		t.Fatal(err)
	}
	majmin := filepath.Join(root, "dev/char", strings.Join([]string{itoa(unix.Major(uint64(st.Rdev))), itoa(unix.Minor(uint64(st.Rdev)))}, ":"))
	if err := os.Symlink(target, majmin); err != nil {
		t.Fatal(err)
	}

	r, err := Open("/dev/zero", Options{SysfsRoot: root})
	if err != nil {
		t.Fatalf("Open(/dev/zero as dax0.0): %v", err)
	}
	defer r.Close()
	p := r.Properties()
	if r.Kind() != KindDevDAX || !r.Persistent() || p.FlushMethod != FlushCPU || !p.InPersistenceDomain || p.SkipCPUFlush || p.Domain != DomainADR || p.CPUFlush == "" {
		t.Fatalf("kind %s properties %+v", r.Kind(), p)
	}
	if r.Frames() != size/FrameSize-1 || r.UUID() == ([16]byte{}) {
		t.Fatalf("frames %d uuid %x", r.Frames(), r.UUID())
	}
	f := r.Frame(2)
	copy(f[100:], "devdax")
	if err := r.Flush(f[100:106]); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(make([]byte, 8)); !errors.Is(err, ErrRange) {
		t.Fatalf("Flush outside = %v, want ErrRange", err)
	}
	if err := zeroFrame(r, 2); err != nil || f[100] != 0 {
		t.Fatalf("zeroing: %v, byte %d", err, f[100])
	}
	h, err := HooksFor(r, f[4096:8192])
	if err != nil {
		t.Fatal(err)
	}
	h.Placed(0, 10)
	h.ReadServed()
	if err := h.Flush(0, 4096); err != nil {
		t.Fatal(err)
	}
	if err := h.Flush(1, 4096); !errors.Is(err, ErrRange) {
		t.Fatalf("hook Flush past the registration = %v, want ErrRange", err)
	}
	// Declared eADR skips the line flushes.
	r2, err := OpenDevDAX("/dev/zero", Options{SysfsRoot: root, Domain: DomainEADR, Size: 16 << 20})
	if !errors.Is(err, imghdr.ErrGeometry) {
		t.Fatalf("wrong size: %v, want imghdr.ErrGeometry", err)
	}
	_ = r2
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r3, err := OpenDevDAX("/dev/zero", Options{SysfsRoot: root, Domain: DomainEADR})
	if err != nil {
		t.Fatal(err)
	}
	if p := r3.Properties(); !p.SkipCPUFlush || p.CPUFlush != "sfence" || p.Domain != DomainEADR {
		t.Fatalf("eADR properties %+v", p)
	}
	if err := r3.Flush(r3.Frame(0)); err != nil {
		t.Fatal(err)
	}
	r3.Close()
}

func itoa(v uint32) string {
	const digits = "0123456789"
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{digits[v%10]}, b...)
	}
	return string(b)
}

func TestOpenDevDAXRefusesRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dax0.0")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDevDAX(path, Options{SysfsRoot: t.TempDir()}); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("OpenDevDAX(regular file) = %v, want ErrNotSupported", err)
	}
}

// TestFSDAXRefusedOffDAX: the temp directory is not on a DAX file system
// here, so MAP_SYNC is refused and the error says so.
func TestFSDAXRefusedOffDAX(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	path := filepath.Join(t.TempDir(), "pmem.img")
	r, err := OpenFile(path, FileOptions{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	dax, err := IsDAX(path)
	if err != nil {
		t.Fatal(err)
	}
	if dax {
		t.Skip("the temp directory is on DAX")
	}
	_, err = OpenFSDAX(path, Options{SysfsRoot: t.TempDir()})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "not on a DAX file system") {
		t.Fatalf("OpenFSDAX off DAX = %v, want ErrNotSupported saying not on DAX", err)
	}
	// The image is untouched and still opens as a plain file, which is
	// what Open chooses for it.
	r, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := r.Properties()
	if r.Kind() != KindFile || p != (Properties{Kind: KindFile, Persistent: true, FlushMethod: FlushMsync}) {
		t.Fatalf("Open chose %s %+v", r.Kind(), p)
	}
}

func TestOpenChooses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts Options
		kind Kind
		err  error
	}{
		{"new plain file", filepath.Join(dir, "a.img"), Options{Size: testSize}, KindFile, nil},
		{"forced file", filepath.Join(dir, "b.img"), Options{Size: testSize, Backend: KindFile}, KindFile, nil},
		{"anonymous", "", Options{Size: testSize, Backend: KindAnonymous}, KindAnonymous, nil},
		{"unknown backend", filepath.Join(dir, "c.img"), Options{Size: testSize, Backend: "tape"}, "", ErrNotSupported},
		{"forced devdax on a file", filepath.Join(dir, "a.img"), Options{Backend: KindDevDAX, SysfsRoot: dir}, "", ErrNotSupported},
		{"bad size", filepath.Join(dir, "d.img"), Options{Size: FrameSize + 1}, "", ErrInvalidSize},
		{"missing device is not created", "/dev/dax97.3", Options{Size: testSize}, "", ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.path, tt.opts)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Kind() != tt.kind || r.Properties().Kind != tt.kind {
				t.Fatalf("kind %s, want %s", r.Kind(), tt.kind)
			}
		})
	}
	a, err := NewAnonymous(testSize)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if p := a.Properties(); p.Persistent || p.FlushMethod != FlushNone || p.InPersistenceDomain {
		t.Fatalf("anonymous properties %+v", p)
	}
}
