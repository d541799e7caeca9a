package persist

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Mellanox/rdmamap"

	"github.com/brick-storage/brick/protocol"
)

// Root-port configuration registers that govern DDIO on Skylake-SP and
// Cascade Lake (Xeon Scalable datasheet vol. 2, IIO PCIe registers).
const (
	regPerfCtrlSts0   = 0x180
	bitAllocFlowWr    = 1 << 7 // Use_Allocating_Flow_Wr
	bitNoSnoopOpWrEn  = 1 << 3 // NoSnoopOpWrEn
	regPerfCtrlSts1b1 = 0x185  // byte 1 of perfctrlsts_1 (0x184)
	bitTPHDIS         = 1 << 0 // TPHDIS
)

// skxRootPorts are the Sky Lake-E (Skylake-SP and Cascade Lake) IIO PCIe
// root ports A–D, vendor 0x8086.
var skxRootPorts = map[uint16]bool{0x2030: true, 0x2031: true, 0x2032: true, 0x2033: true}

// perPort reports whether platform p has the perfctrlsts registers.
func perPort(p protocol.Platform) bool {
	return p == protocol.PlatformSkylakeSP || p == protocol.PlatformCascadeLake
}

// Device is one RDMA device and what the brick knows of its DDIO.
type Device struct {
	Name     string // RDMA device, e.g. mlx5_0
	PCI      string // its PCI function, e.g. 0000:3b:00.0 ("" if none)
	RootPort string // the root port above it, e.g. 0000:3a:00.0 ("" if none)
	Platform protocol.Platform
	State    protocol.DDIOState
	Reason   protocol.DDIOReason
	// Err is the underlying error, when Reason is a failure (not sent on
	// the wire; logged).
	Err error
}

// Sentence explains the device's state to a person.
func (d Device) Sentence() string {
	return d.Reason.Sentence(d.Platform)
}

var (
	hostBridgeRE = regexp.MustCompile(`^pci[0-9a-f]{4}:[0-9a-f]{2}$`)
	bdfRE        = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
)

// rdmaDevices lists the RDMA devices under sysRoot (rdmamap's class
// directory, read through the root rather than at the fixed /sys path
// rdmamap's own functions use).
func rdmaDevices(sysRoot string) ([]string, error) {
	dir := filepath.Join(sysRoot, "class", rdmamap.RdmaClassName)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("persist: listing RDMA devices: %w", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// probeDevice finds dev's PCI function and root port and reads (or, with
// protocol.DDIOPolicyDisable, writes then reads) its DDIO registers.
func probeDevice(sysRoot string, cpu cpuInfo, dev string, pol protocol.DDIOPolicy) Device {
	d := Device{Name: dev}
	port := d.locate(sysRoot)
	if port == "" {
		return d.declare(pol)
	}
	vendor, _ := readHex(filepath.Join(port, "vendor"))
	device, _ := readHex(filepath.Join(port, "device"))
	d.Platform = cpu.platform()
	if perPort(d.Platform) && (vendor != 0x8086 || !skxRootPorts[uint16(device)]) {
		// A Skylake-SP host, but the NIC hangs off a port without the
		// registers (a chipset root port): nothing to read.
		d.Platform = protocol.PlatformIntelOther
	}
	switch {
	case pol == protocol.DDIOPolicyOff:
		d.Reason = protocol.DDIOReasonPolicyOff
		return d
	case pol == protocol.DDIOPolicyAssumeOff:
		return d.declare(pol)
	case d.Platform == protocol.PlatformAMD:
		d.Reason = protocol.DDIOReasonAMD
		return d
	case d.Platform == protocol.PlatformUnknown:
		d.Reason = protocol.DDIOReasonUnknownCPU
		return d
	case !perPort(d.Platform):
		d.Reason = protocol.DDIOReasonNoPortControl
		return d
	}
	return d.readRegisters(filepath.Join(port, "config"), pol)
}

// locate sets d.PCI and d.RootPort from sysfs and returns the root port's
// sysfs directory; or, for a device that is not a PCI function below a
// PCI-PCI bridge root port, sets d.Reason (and d.Err) and returns "".
func (d *Device) locate(sysRoot string) (port string) {
	fn, err := filepath.EvalSymlinks(filepath.Join(sysRoot, "class", rdmamap.RdmaClassName, d.Name, "device"))
	if err != nil {
		d.Reason, d.Err = protocol.DDIOReasonNotPCI, err
		return ""
	}
	root, err := filepath.EvalSymlinks(sysRoot)
	if err != nil {
		d.Reason, d.Err = protocol.DDIOReasonNotPCI, err
		return ""
	}
	rel, err := filepath.Rel(filepath.Join(root, "devices"), fn)
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if err != nil || len(parts) < 2 || !hostBridgeRE.MatchString(parts[0]) || !bdfRE.MatchString(parts[len(parts)-1]) {
		d.Reason = protocol.DDIOReasonNotPCI
		return ""
	}
	d.PCI = parts[len(parts)-1]
	if len(parts) < 3 || !bdfRE.MatchString(parts[1]) {
		d.Reason = protocol.DDIOReasonNoRootPort // a root-complex integrated endpoint
		return ""
	}
	port = filepath.Join(root, "devices", parts[0], parts[1])
	if class, err := readHex(filepath.Join(port, "class")); err != nil || class>>8 != 0x0604 {
		d.Reason = protocol.DDIOReasonNoRootPort
		return ""
	}
	d.RootPort = parts[1]
	return port
}

// readRegisters reads the root port's DDIO state from its configuration
// space cfg and, under protocol.DDIOPolicyDisable, turns DDIO off and
// reads it again to see that it stayed off.
func (d Device) readRegisters(cfg string, pol protocol.DDIOPolicy) Device {
	on, err := readDDIO(cfg)
	if err != nil {
		d.Reason, d.Err = reasonOf(err), err
		return d
	}
	d.State, d.Reason = stateOf(on), protocol.DDIOReasonRead
	if !on || pol != protocol.DDIOPolicyDisable {
		return d
	}
	if err := writeDDIOOff(cfg); err != nil {
		d.Reason, d.Err = reasonOf(err), err
		return d
	}
	on, err = readDDIO(cfg)
	switch {
	case err != nil:
		d.State, d.Reason, d.Err = protocol.DDIOUnknown, reasonOf(err), err
	case on:
		d.Reason = protocol.DDIOReasonDisableFailed
	default:
		d.State, d.Reason = protocol.DDIOOff, protocol.DDIOReasonDisabled
	}
	return d
}

// declare applies assume-off to a device whose registers were not read.
func (d Device) declare(pol protocol.DDIOPolicy) Device {
	switch pol {
	case protocol.DDIOPolicyAssumeOff:
		d.State, d.Reason, d.Err = protocol.DDIODeclaredOff, protocol.DDIOReasonDeclared, nil
	case protocol.DDIOPolicyOff:
		d.Reason, d.Err = protocol.DDIOReasonPolicyOff, nil
	}
	return d
}

func stateOf(on bool) protocol.DDIOState {
	if on {
		return protocol.DDIOOn
	}
	return protocol.DDIOOff
}

func reasonOf(err error) protocol.DDIOReason {
	if errors.Is(err, ErrPermission) {
		return protocol.DDIOReasonNoPermission
	}
	return protocol.DDIOReasonConfigReadFail
}

// readDDIO reads the root port's registers: DDIO is off only when
// Use_Allocating_Flow_Wr = 0, NoSnoopOpWrEn = 0 and TPHDIS = 1.
func readDDIO(config string) (on bool, err error) {
	f, err := os.Open(config)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return false, fmt.Errorf("%w: %s: %v", ErrPermission, config, err)
		}
		return false, fmt.Errorf("persist: %w", err)
	}
	defer f.Close()
	var b0, b1 [1]byte
	if err := readByte(f, regPerfCtrlSts0, b0[:]); err != nil {
		return false, fmt.Errorf("%s: perfctrlsts_0: %w", config, err)
	}
	if err := readByte(f, regPerfCtrlSts1b1, b1[:]); err != nil {
		return false, fmt.Errorf("%s: perfctrlsts_1: %w", config, err)
	}
	off := b0[0]&bitAllocFlowWr == 0 && b0[0]&bitNoSnoopOpWrEn == 0 && b1[0]&bitTPHDIS != 0
	return !off, nil
}

// readByte reads one byte at off. The kernel truncates reads of config
// space past 64 bytes for callers without CAP_SYS_ADMIN: a short read
// there is a permission problem, not a short file.
func readByte(f *os.File, off int64, b []byte) error {
	_, err := f.ReadAt(b, off)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: config space ends before offset %#x", ErrPermission, off)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

// writeDDIOOff clears Use_Allocating_Flow_Wr and NoSnoopOpWrEn and sets
// TPHDIS, each by a read-modify-write of its byte (as setpci would).
func writeDDIOOff(config string) error {
	f, err := os.OpenFile(config, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w: %s: %v", ErrPermission, config, err)
		}
		return fmt.Errorf("persist: %w", err)
	}
	defer f.Close()
	var b [1]byte
	if err := readByte(f, regPerfCtrlSts0, b[:]); err != nil {
		return err
	}
	b[0] &^= bitAllocFlowWr | bitNoSnoopOpWrEn
	if _, err := f.WriteAt(b[:], regPerfCtrlSts0); err != nil {
		return fmt.Errorf("persist: writing perfctrlsts_0 of %s: %w", config, err)
	}
	if err := readByte(f, regPerfCtrlSts1b1, b[:]); err != nil {
		return err
	}
	b[0] |= bitTPHDIS
	if _, err := f.WriteAt(b[:], regPerfCtrlSts1b1); err != nil {
		return fmt.Errorf("persist: writing perfctrlsts_1 of %s: %w", config, err)
	}
	return nil
}

// readHex reads a sysfs attribute such as "0x8086\n".
func readHex(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"), 16, 32)
}
