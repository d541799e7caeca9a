package persist

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/pmem/powerfail"
	"github.com/brick-storage/brick/protocol"
)

// fakeTree is a fake sysfs + procfs, laid out (symlinks included) the way
// the kernel lays them out, for one test case.
type fakeTree struct {
	t          *testing.T
	sys, proc  string
	configPath map[string]string // root port BDF → its config file
}

func newFakeTree(t *testing.T) *fakeTree {
	t.Helper()
	dir := t.TempDir()
	f := &fakeTree{t: t, sys: filepath.Join(dir, "sys"), proc: filepath.Join(dir, "proc"), configPath: map[string]string{}}
	f.mkdir(f.sys)
	f.mkdir(f.proc)
	return f
}

func (f *fakeTree) mkdir(p string) {
	f.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeTree) write(p string, b []byte) {
	f.t.Helper()
	f.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeTree) symlink(target, link string) {
	f.t.Helper()
	f.mkdir(filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		f.t.Fatal(err)
	}
}

// cpu writes a cpuinfo with two identical processors.
func (f *fakeTree) cpu(vendor string, family, model, stepping int) {
	var s string
	for i := range 2 {
		s += fmt.Sprintf("processor\t: %d\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\nmodel name\t: test cpu\nstepping\t: %d\nflags\t\t: fpu clwb\n\n", i, vendor, family, model, stepping)
	}
	f.write(filepath.Join(f.proc, "cpuinfo"), []byte(s))
}

func (f *fakeTree) skx()      { f.cpu("GenuineIntel", 6, 85, 4) }
func (f *fakeTree) clx()      { f.cpu("GenuineIntel", 6, 85, 7) }
func (f *fakeTree) iceLake()  { f.cpu("GenuineIntel", 6, 106, 6) }
func (f *fakeTree) amdEPYC()  { f.cpu("AuthenticAMD", 25, 1, 1) }
func hexAttr(v uint32) []byte { return fmt.Appendf(nil, "0x%04x\n", v) }

// Config spaces as root sees them (4096 bytes). ddioOn is the power-on
// default (Use_Allocating_Flow_Wr = 1); the other bits in the bytes are
// set to check that a disable leaves them alone.
func config(b180, b185 byte) []byte {
	c := make([]byte, 4096)
	c[0x180], c[0x185] = b180, b185
	return c
}

var (
	cfgDDIOOn      = config(0x80|0x02, 0x40)
	cfgDDIOOff     = config(0x02, 0x41)
	cfgNoSnoop     = config(0x08, 0x01) // alloc-flow 0 but NoSnoopOpWrEn 1: still on
	cfgTPHEnabled  = config(0x00, 0x00) // TPHDIS 0: still on
	cfgUnprivilege = make([]byte, 64)   // what a non-root reader gets
)

// rootPort creates a PCI bridge at devices/HOST/BDF.
func (f *fakeTree) rootPort(host, bdf string, vendor, device uint32, cfg []byte) {
	dir := filepath.Join(f.sys, "devices", host, bdf)
	f.write(filepath.Join(dir, "vendor"), hexAttr(vendor))
	f.write(filepath.Join(dir, "device"), hexAttr(device))
	f.write(filepath.Join(dir, "class"), []byte("0x060400\n"))
	f.write(filepath.Join(dir, "config"), cfg)
	f.configPath[bdf] = filepath.Join(dir, "config")
}

// nic creates RDMA device name on PCI function bdf below path (host
// bridge, root port, maybe switch ports), with the class symlink and the
// device symlink real sysfs has.
func (f *fakeTree) nic(name string, path ...string) {
	rel := filepath.Join(append([]string{"devices"}, path...)...)
	fn := filepath.Join(f.sys, rel)
	f.write(filepath.Join(fn, "vendor"), hexAttr(0x15b3))
	f.write(filepath.Join(fn, "device"), hexAttr(0x1017))
	f.write(filepath.Join(fn, "class"), []byte("0x020000\n"))
	ib := filepath.Join(fn, "infiniband", name)
	f.mkdir(ib)
	f.symlink("../../"+filepath.ToSlash(filepath.Join(rel, "infiniband", name)), filepath.Join(f.sys, "class", "infiniband", name))
	f.symlink("../../../"+path[len(path)-1], filepath.Join(ib, "device"))
}

// softRDMA creates a software RDMA device (rxe, siw): a virtual device
// with no PCI function.
func (f *fakeTree) softRDMA(name string) {
	f.mkdir(filepath.Join(f.sys, "devices", "virtual", "infiniband", name))
	f.symlink("../../devices/virtual/infiniband/"+name, filepath.Join(f.sys, "class", "infiniband", name))
}

// region creates an nd region reporting domain.
func (f *fakeTree) region(name, domain string) {
	dir := filepath.Join(f.sys, "devices", "platform", "ACPI0012:00", "ndbus0", name)
	f.write(filepath.Join(dir, "persistence_domain"), []byte(domain+"\n"))
	f.symlink("../../../devices/platform/ACPI0012:00/ndbus0/"+name, filepath.Join(f.sys, "bus", "nd", "devices", name))
}

func (f *fakeTree) opts(pol protocol.DDIOPolicy, m pmem.Properties) Options {
	return Options{Policy: pol, Memory: m, SysRoot: f.sys, ProcRoot: f.proc}
}

func (f *fakeTree) config(bdf string) []byte {
	f.t.Helper()
	b, err := os.ReadFile(f.configPath[bdf])
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// Region properties as pmem reports them.
var (
	memDAX      = pmem.Properties{Kind: pmem.KindDevDAX, Persistent: true, FlushMethod: pmem.FlushCPU, Domain: pmem.DomainADR, InPersistenceDomain: true}
	memEADR     = pmem.Properties{Kind: pmem.KindFSDAX, Persistent: true, FlushMethod: pmem.FlushCPU, Domain: pmem.DomainEADR, InPersistenceDomain: true, SkipCPUFlush: true}
	memEmulated = pmem.Properties{Kind: pmem.KindDevDAX, FlushMethod: pmem.FlushCPU, Domain: pmem.DomainNone}
	memNoDomain = pmem.Properties{Kind: pmem.KindFSDAX, FlushMethod: pmem.FlushCPU}
	memFile     = pmem.Properties{Kind: pmem.KindFile, Persistent: true, FlushMethod: pmem.FlushMsync}
	memAnon     = pmem.Properties{Kind: pmem.KindAnonymous, FlushMethod: pmem.FlushNone}
	memSim      = pmem.Properties{Kind: powerfail.Kind, Persistent: true, FlushMethod: pmem.FlushCPU, Domain: pmem.DomainADR, InPersistenceDomain: true}
)

// nicPort is a root port (host bridge, function, vendor and device IDs)
// and the PCI function of the NIC behind it.
type nicPort struct {
	host, bdf      string
	vendor, device uint32
	nic            string
}

var (
	skxPortA = nicPort{skxHost, skxPort, 0x8086, 0x2030, skxNIC}
	clxPortA = nicPort{skxHost, skxPort, 0x8086, 0x2032, skxNIC}
	amdPort  = nicPort{"pci0000:40", "0000:40:01.1", 0x1022, 0x1483, "0000:41:00.0"}
	iclPort  = nicPort{"pci0000:17", "0000:17:02.0", 0x8086, 0x347a, "0000:18:00.0"}
)

// oneNIC is the common machine: cpu, region0 in domain, and NIC mlx5_0
// behind root port p, whose configuration space is cfg.
func (f *fakeTree) oneNIC(cpu func(*fakeTree), domain string, p nicPort, cfg []byte) {
	cpu(f)
	f.region("region0", domain)
	f.rootPort(p.host, p.bdf, p.vendor, p.device, cfg)
	f.nic("mlx5_0", p.host, p.bdf, p.nic)
}
