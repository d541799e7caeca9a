package persist

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/pmem/powerfail"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

const allFeatures = protocol.FeatureGPSPM | protocol.FeatureAPM | protocol.FeatureFlush

const (
	skxHost = "pci0000:3a"
	skxPort = "0000:3a:00.0"
	skxNIC  = "0000:3b:00.0"
)

// devWant is the expected probe of one device and the method its sessions get.
type devWant struct {
	state    protocol.DDIOState
	reason   protocol.DDIOReason
	platform protocol.Platform
	method   protocol.PersistMethod
}

// nicCase is a probe of a host with one NIC, mlx5_0, behind port, on a
// platform set up by cpu whose nd region reports domain.
type nicCase struct {
	name    string
	cpu     func(*fakeTree)
	domain  string
	port    nicPort
	cfg     []byte
	pol     protocol.DDIOPolicy
	mem     pmem.Properties
	want    devWant                 // mlx5_0's
	methods protocol.PersistMethods // status set
	note    string                  // "" for none
}

func TestProbeDDIO(t *testing.T) {
	gpspm, apm := protocol.PersistGPSPM, protocol.PersistAPM
	verify, disable, assumeOff := protocol.DDIOPolicyVerify, protocol.DDIOPolicyDisable, protocol.DDIOPolicyAssumeOff
	unknown, read := protocol.DDIOUnknown, protocol.DDIOReasonRead
	skx, clx, amd, icl := (*fakeTree).skx, (*fakeTree).clx, (*fakeTree).amdEPYC, (*fakeTree).iceLake
	skxP, clxP, iclP := protocol.PlatformSkylakeSP, protocol.PlatformCascadeLake, protocol.PlatformIceLakeSP
	gf := protocol.PersistMethods(1<<gpspm | 1<<protocol.PersistFlush)
	gaf := gf | 1<<apm
	const adr = "memory_controller"
	nics := []nicCase{
		{"no permission", skx, adr, skxPortA, cfgUnprivilege, verify, memDAX, devWant{unknown, protocol.DDIOReasonNoPermission, skxP, gpspm}, gf, ""},
		{"DDIO on", skx, adr, skxPortA, cfgDDIOOn, verify, memDAX, devWant{protocol.DDIOOn, read, skxP, gpspm}, gf, ""},
		{"DDIO off", clx, adr, clxPortA, cfgDDIOOff, verify, memDAX, devWant{protocol.DDIOOff, read, clxP, apm}, gaf, ""},
		{"DDIO off but the memory is a plain file", clx, adr, clxPortA, cfgDDIOOff, verify, memFile, devWant{protocol.DDIOOff, read, clxP, gpspm}, 1 << gpspm, ""},
		{"DDIO off, policy off", skx, adr, skxPortA, cfgDDIOOff, protocol.DDIOPolicyOff, memDAX, devWant{unknown, protocol.DDIOReasonPolicyOff, skxP, gpspm}, gf, ""},
		{"AMD", amd, adr, amdPort, cfgDDIOOff, verify, memDAX, devWant{unknown, protocol.DDIOReasonAMD, protocol.PlatformAMD, gpspm}, gf, ""},
		{"AMD, declared off", amd, adr, amdPort, cfgDDIOOn, assumeOff, memDAX, devWant{protocol.DDIODeclaredOff, protocol.DDIOReasonDeclared, protocol.PlatformAMD, apm}, gaf, "ASSUMED OFF"},
		// Registers at 0x180 say "off", but Ice Lake has no such
		// registers: they must not be believed.
		{"Ice Lake", icl, adr, iclPort, cfgDDIOOff, verify, memDAX, devWant{unknown, protocol.DDIOReasonNoPortControl, iclP, gpspm}, gf, ""},
		{"Ice Lake, disable", icl, adr, iclPort, cfgDDIOOn, disable, memDAX, devWant{unknown, protocol.DDIOReasonNoPortControl, iclP, gpspm}, gf, "could not turn DDIO off for mlx5_0"},
		{"eADR makes DDIO irrelevant", icl, "cpu_cache", iclPort, cfgDDIOOn, verify, memEADR, devWant{unknown, protocol.DDIOReasonNoPortControl, iclP, apm}, gaf, ""},
		{"emulated pmem: no persistence domain", skx, "", skxPortA, cfgDDIOOff, verify, memEmulated, devWant{protocol.DDIOOff, read, skxP, protocol.PersistNone}, 0, "outside any persistence domain"},
	}
	type probeCase struct {
		name    string
		setup   func(f *fakeTree)
		pol     protocol.DDIOPolicy
		mem     pmem.Properties
		devs    map[string]devWant
		methods protocol.PersistMethods // status set
		notes   []string
	}
	tests := []probeCase{{
		name:    "no NIC",
		setup:   func(f *fakeTree) { f.skx(); f.region("region0", adr) },
		pol:     verify,
		mem:     memDAX,
		methods: gf,
	}, {
		name: "several NICs",
		setup: func(f *fakeTree) {
			f.skx()
			f.region("region0", adr)
			f.region("region1", adr)
			// mlx5_0: port A, DDIO off. mlx5_1: port B, DDIO on.
			// mlx5_2: behind a PCIe switch under port C, NoSnoopOpWrEn
			// set. mlx5_3: port D, TPH not disabled. mlx5_4: a chipset
			// root port (no registers). rxe0: software RoCE.
			f.rootPort(skxHost, skxPort, 0x8086, 0x2030, cfgDDIOOff)
			f.nic("mlx5_0", skxHost, skxPort, skxNIC)
			f.rootPort("pci0000:5d", "0000:5d:00.0", 0x8086, 0x2031, cfgDDIOOn)
			f.nic("mlx5_1", "pci0000:5d", "0000:5d:00.0", "0000:5e:00.0")
			f.rootPort("pci0000:85", "0000:85:02.0", 0x8086, 0x2032, cfgNoSnoop)
			f.nic("mlx5_2", "pci0000:85", "0000:85:02.0", "0000:86:00.0", "0000:87:08.0", "0000:88:00.0")
			f.rootPort("pci0000:ae", "0000:ae:03.0", 0x8086, 0x2033, cfgTPHEnabled)
			f.nic("mlx5_3", "pci0000:ae", "0000:ae:03.0", "0000:af:00.0")
			f.rootPort("pci0000:00", "0000:00:1c.0", 0x8086, 0xa190, cfgDDIOOff)
			f.nic("mlx5_4", "pci0000:00", "0000:00:1c.0", "0000:02:00.0")
			f.softRDMA("rxe0")
		},
		pol: verify,
		mem: memDAX,
		devs: map[string]devWant{
			"mlx5_0": {protocol.DDIOOff, read, skxP, apm},
			"mlx5_1": {protocol.DDIOOn, read, skxP, gpspm},
			"mlx5_2": {protocol.DDIOOn, read, skxP, gpspm},
			"mlx5_3": {protocol.DDIOOn, read, skxP, gpspm},
			"mlx5_4": {unknown, protocol.DDIOReasonNoPortControl, protocol.PlatformIntelOther, gpspm},
			"rxe0":   {unknown, protocol.DDIOReasonNotPCI, protocol.PlatformUnknown, gpspm},
		},
		methods: gaf,
	}, {
		name:  "volatile memory",
		setup: func(f *fakeTree) { f.skx() },
		pol:   verify,
		mem:   memAnon,
	}}
	for _, n := range nics {
		tc := probeCase{name: n.name, pol: n.pol, mem: n.mem, methods: n.methods,
			setup: func(f *fakeTree) { f.oneNIC(n.cpu, n.domain, n.port, n.cfg) },
			devs:  map[string]devWant{"mlx5_0": n.want}}
		if n.note != "" {
			tc.notes = []string{n.note}
		}
		tests = append(tests, tc)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTree(t)
			tc.setup(f)
			p, err := Probe(f.opts(tc.pol, tc.mem))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Devices) != len(tc.devs) {
				t.Fatalf("devices = %+v, want %d", p.Devices, len(tc.devs))
			}
			for _, d := range p.Devices {
				w, ok := tc.devs[d.Name]
				if !ok {
					t.Fatalf("unexpected device %s", d.Name)
				}
				if d.State != w.state || d.Reason != w.reason || d.Platform != w.platform {
					t.Errorf("%s: state %v reason %d (%s) platform %v; want %v %d %v (err %v)",
						d.Name, d.State, d.Reason, d.Sentence(), d.Platform, w.state, w.reason, w.platform, d.Err)
				}
				if m := p.Method(verbs.Caps{}, Path{Device: d.Name}, allFeatures); m != w.method {
					t.Errorf("%s: method %v, want %v", d.Name, m, w.method)
				}
				// A provider that knows only the PCI function finds the same device.
				if m := p.Method(verbs.Caps{}, Path{PCI: d.PCI}, allFeatures); d.PCI != "" && m != w.method {
					t.Errorf("%s by PCI %s: method %v, want %v", d.Name, d.PCI, m, w.method)
				}
			}
			if got := p.Methods(); got != tc.methods {
				t.Errorf("methods = %08b, want %08b", got, tc.methods)
			}
			notes := strings.Join(p.Notes, "\n")
			for _, n := range tc.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("notes %q lack %q", notes, n)
				}
			}
			if len(tc.notes) == 0 && len(p.Notes) != 0 {
				t.Errorf("unexpected notes %q", notes)
			}
		})
	}
}

// TestDisable: --ddio disable writes exactly the three bits, leaves the
// rest of both bytes alone, and verifies by reading back.
func TestDisable(t *testing.T) {
	f := newFakeTree(t)
	f.oneNIC((*fakeTree).skx, "memory_controller", skxPortA, cfgDDIOOn)
	f.rootPort("pci0000:5d", "0000:5d:00.0", 0x8086, 0x2031, cfgNoSnoop)
	f.nic("mlx5_1", "pci0000:5d", "0000:5d:00.0", "0000:5e:00.0")
	p, err := Probe(f.opts(protocol.DDIOPolicyDisable, memDAX))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Devices {
		if d.State != protocol.DDIOOff || d.Reason != protocol.DDIOReasonDisabled {
			t.Errorf("%s: %v (%s), want off after disable", d.Name, d.State, d.Sentence())
		}
		if m := p.Method(verbs.Caps{}, Path{Device: d.Name}, allFeatures); m != protocol.PersistAPM {
			t.Errorf("%s: method %v", d.Name, m)
		}
	}
	if c := f.config(skxPort); c[0x180] != 0x02 || c[0x185] != 0x41 {
		t.Errorf("port A registers after disable: %#x %#x, want 0x02 0x41", c[0x180], c[0x185])
	}
	if c := f.config("0000:5d:00.0"); c[0x180] != 0x00 || c[0x185] != 0x01 {
		t.Errorf("port B registers after disable: %#x %#x, want 0 0x01", c[0x180], c[0x185])
	}
	if len(p.Notes) != 0 {
		t.Errorf("notes: %q", p.Notes)
	}

	// A second brick start finds DDIO already off and writes nothing.
	before, _ := os.Stat(f.configPath[skxPort])
	if err := os.Chmod(f.configPath[skxPort], 0o444); err != nil {
		t.Fatal(err)
	}
	p, err = Probe(f.opts(protocol.DDIOPolicyDisable, memDAX))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Devices[0]; d.State != protocol.DDIOOff || d.Reason != protocol.DDIOReasonRead {
		t.Errorf("second start: %v %s", d.State, d.Sentence())
	}
	after, _ := os.Stat(f.configPath[skxPort])
	if !after.ModTime().Equal(before.ModTime()) {
		t.Error("disable rewrote registers that were already off")
	}
}

// TestDisableNoPermission: without root, disable cannot read, so it does
// not write either, and says why.
func TestDisableNoPermission(t *testing.T) {
	f := newFakeTree(t)
	f.oneNIC((*fakeTree).skx, "memory_controller", skxPortA, cfgUnprivilege)
	p, err := Probe(f.opts(protocol.DDIOPolicyDisable, memDAX))
	if err != nil {
		t.Fatal(err)
	}
	d := p.Devices[0]
	if d.State != protocol.DDIOUnknown || d.Reason != protocol.DDIOReasonNoPermission || !errors.Is(d.Err, ErrPermission) {
		t.Fatalf("%v %s %v", d.State, d.Sentence(), d.Err)
	}
	if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "readable only by root") {
		t.Fatalf("notes %q", p.Notes)
	}
	if c := f.config(skxPort); len(c) != 64 {
		t.Fatal("config written")
	}
}

// TestConfigUnreadable: a config file the process may not open (only
// meaningful when not running as root).
func TestConfigUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read a mode-000 file")
	}
	f := newFakeTree(t)
	f.skx()
	f.rootPort(skxHost, skxPort, 0x8086, 0x2030, cfgDDIOOff)
	f.nic("mlx5_0", skxHost, skxPort, skxNIC)
	if err := os.Chmod(f.configPath[skxPort], 0); err != nil {
		t.Fatal(err)
	}
	p, err := Probe(f.opts(protocol.DDIOPolicyVerify, memDAX))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Devices[0]; d.Reason != protocol.DDIOReasonNoPermission {
		t.Fatalf("%v %s", d.State, d.Sentence())
	}
}

// TestRefuse: policies that can only serve to claim APM on memory that
// cannot give it are refused with a sentence.
func TestRefuse(t *testing.T) {
	tests := []struct {
		name   string
		pol    protocol.DDIOPolicy
		mem    pmem.Properties
		region string // "" none
		say    string
	}{
		{"assume-off on a plain file", protocol.DDIOPolicyAssumeOff, memFile, "memory_controller", "page cache"},
		{"disable on a plain file", protocol.DDIOPolicyDisable, memFile, "memory_controller", "page cache"},
		{"assume-off on anonymous memory", protocol.DDIOPolicyAssumeOff, memAnon, "", "volatile"},
		{"assume-off on DAX without a domain", protocol.DDIOPolicyAssumeOff, memNoDomain, "", "persistence domain as unknown"},
		{"assume-off on emulated pmem", protocol.DDIOPolicyAssumeOff, memEmulated, "none", "persistence domain as none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTree(t)
			f.skx()
			if tc.region != "" {
				f.region("region0", strings.TrimPrefix(tc.region, "none"))
			}
			_, err := Probe(f.opts(tc.pol, tc.mem))
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.say) || !strings.Contains(err.Error(), "--ddio "+tc.pol.String()) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// The same policies are fine where APM is possible.
	f := newFakeTree(t)
	f.skx()
	f.region("region0", "memory_controller")
	for _, pol := range []protocol.DDIOPolicy{protocol.DDIOPolicyAssumeOff, protocol.DDIOPolicyDisable, protocol.DDIOPolicyVerify, protocol.DDIOPolicyOff} {
		if _, err := Probe(f.opts(pol, memDAX)); err != nil {
			t.Errorf("%v: %v", pol, err)
		}
	}
	for _, pol := range []protocol.DDIOPolicy{protocol.DDIOPolicyVerify, protocol.DDIOPolicyOff} {
		if _, err := Probe(f.opts(pol, memFile)); err != nil {
			t.Errorf("file, %v: %v", pol, err)
		}
	}
}

// TestMethodSoftware: the software RNIC's sessions (device "") follow the
// simulator's DDIO setting under verify and the administrator's word under
// assume-off; FLUSH works on any persistent memory there.
func TestMethodSoftware(t *testing.T) {
	sim := memSim
	tests := []struct {
		name  string
		pol   protocol.DDIOPolicy
		mem   pmem.Properties
		truth protocol.DDIOState
		caps  verbs.Caps
		want  protocol.PersistMethod
	}{
		{"sim DDIO off, verify", protocol.DDIOPolicyVerify, sim, protocol.DDIOOff, verbs.Caps{}, protocol.PersistAPM},
		{"sim DDIO on, verify", protocol.DDIOPolicyVerify, sim, protocol.DDIOOn, verbs.Caps{}, protocol.PersistGPSPM},
		{"sim DDIO on, assume-off (a false declaration)", protocol.DDIOPolicyAssumeOff, sim, protocol.DDIOOn, verbs.Caps{}, protocol.PersistAPM},
		{"sim DDIO off, policy off", protocol.DDIOPolicyOff, sim, protocol.DDIOOff, verbs.Caps{}, protocol.PersistGPSPM},
		{"sim with FLUSH", protocol.DDIOPolicyVerify, sim, protocol.DDIOOn, verbs.Caps{Flush: true}, protocol.PersistFlush},
		{"file with FLUSH on the software RNIC", protocol.DDIOPolicyVerify, memFile, protocol.DDIOUnknown, verbs.Caps{Flush: true}, protocol.PersistFlush},
		{"file without FLUSH", protocol.DDIOPolicyVerify, memFile, protocol.DDIOUnknown, verbs.Caps{}, protocol.PersistGPSPM},
		{"production tcp://, verify", protocol.DDIOPolicyVerify, memDAX, protocol.DDIOUnknown, verbs.Caps{}, protocol.PersistGPSPM},
		{"production tcp://, assume-off", protocol.DDIOPolicyAssumeOff, memDAX, protocol.DDIOUnknown, verbs.Caps{}, protocol.PersistAPM},
		{"anonymous with FLUSH", protocol.DDIOPolicyVerify, memAnon, protocol.DDIOOff, verbs.Caps{Flush: true}, protocol.PersistNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTree(t)
			f.region("region0", "memory_controller")
			o := f.opts(tc.pol, tc.mem)
			o.Software, o.SoftwareDDIO, o.NoDevices = true, tc.truth, true
			p, err := Probe(o)
			if err != nil {
				t.Fatal(err)
			}
			if m := p.Method(tc.caps, Path{Software: true}, allFeatures); m != tc.want {
				t.Fatalf("method %v, want %v", m, tc.want)
			}
			if tc.want != protocol.PersistNone && !p.Methods().Has(tc.want) {
				t.Fatalf("method %v not in the offered set %08b", tc.want, p.Methods())
			}
		})
	}
}

// TestMethodHardwareFlush: a hardware RNIC's FLUSH needs memory in the
// domain; a plain file behind it falls back to GPSPM.
func TestMethodHardwareFlush(t *testing.T) {
	f := newFakeTree(t)
	f.oneNIC((*fakeTree).skx, "memory_controller", skxPortA, cfgDDIOOn)
	for _, tc := range []struct {
		mem  pmem.Properties
		want protocol.PersistMethod
	}{{memDAX, protocol.PersistFlush}, {memFile, protocol.PersistGPSPM}, {memAnon, protocol.PersistNone}} {
		p, err := Probe(f.opts(protocol.DDIOPolicyVerify, tc.mem))
		if err != nil {
			t.Fatal(err)
		}
		if m := p.Method(verbs.Caps{Flush: true}, Path{Device: "mlx5_0"}, allFeatures); m != tc.want {
			t.Errorf("%s: %v, want %v", tc.mem.Kind, m, tc.want)
		}
		// An unknown device gets no APM under verify, and a device the
		// provider does not name is a hardware one: no FLUSH on a file.
		if m := p.Method(verbs.Caps{}, Path{Device: "mlx5_9"}, allFeatures); m == protocol.PersistAPM {
			t.Errorf("%s: APM for an unknown device", tc.mem.Kind)
		}
		if m := p.Method(verbs.Caps{Flush: true}, Path{}, allFeatures); m != tc.want {
			t.Errorf("%s: unnamed hardware device: %v, want %v", tc.mem.Kind, m, tc.want)
		}
	}
}

func TestCPUPlatform(t *testing.T) {
	tests := []struct {
		vendor                  string
		family, model, stepping int
		want                    protocol.Platform
	}{
		{"GenuineIntel", 6, 85, 4, protocol.PlatformSkylakeSP},
		{"GenuineIntel", 6, 85, 7, protocol.PlatformCascadeLake},
		{"GenuineIntel", 6, 85, 11, protocol.PlatformIntelOther}, // Cooper Lake
		{"GenuineIntel", 6, 106, 6, protocol.PlatformIceLakeSP},
		{"GenuineIntel", 6, 143, 8, protocol.PlatformIntelOther}, // Sapphire Rapids
		{"AuthenticAMD", 25, 1, 1, protocol.PlatformAMD},
		{"CentaurHauls", 6, 15, 1, protocol.PlatformUnknown},
	}
	for _, tc := range tests {
		f := newFakeTree(t)
		f.cpu(tc.vendor, tc.family, tc.model, tc.stepping)
		if got := readCPUInfo(f.proc).platform(); got != tc.want {
			t.Errorf("%s %d/%d/%d: %v, want %v", tc.vendor, tc.family, tc.model, tc.stepping, got, tc.want)
		}
	}
	if got := readCPUInfo(t.TempDir()).platform(); got != protocol.PlatformUnknown {
		t.Errorf("no cpuinfo: %v", got)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []protocol.DDIOPolicy{protocol.DDIOPolicyVerify, protocol.DDIOPolicyDisable, protocol.DDIOPolicyAssumeOff, protocol.DDIOPolicyOff} {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Errorf("%v: %v %v", p, got, err)
		}
	}
	if p, err := ParsePolicy(""); err != nil || p != DefaultPolicy {
		t.Errorf("empty: %v %v", p, err)
	}
	if _, err := ParsePolicy("maybe"); !errors.Is(err, ErrPolicy) {
		t.Errorf("maybe: %v", err)
	}
}

// TestMethodFeatures: a method the client did not ask for is never chosen.
func TestMethodFeatures(t *testing.T) {
	f := newFakeTree(t)
	o := f.opts(protocol.DDIOPolicyVerify, memSim)
	o.Software, o.SoftwareDDIO, o.NoDevices = true, protocol.DDIOOff, true
	p, err := Probe(o)
	if err != nil {
		t.Fatal(err)
	}
	flush := verbs.Caps{Flush: true}
	for _, tc := range []struct {
		features uint64
		want     protocol.PersistMethod
	}{
		{allFeatures, protocol.PersistFlush},
		{protocol.FeatureGPSPM | protocol.FeatureAPM, protocol.PersistAPM},
		{protocol.FeatureGPSPM, protocol.PersistGPSPM},
		{0, protocol.PersistGPSPM},
	} {
		if m := p.Method(flush, Path{Software: true}, tc.features); m != tc.want {
			t.Errorf("features %#x: %v, want %v", tc.features, m, tc.want)
		}
	}
	if got := p.Features(); got != allFeatures {
		t.Errorf("offered %#x", got)
	}
}

// TestModelledDDIO: the simulator's configuration is the software RNIC's
// DDIO truth; other regions have none.
func TestModelledDDIO(t *testing.T) {
	for _, ddio := range []bool{false, true} {
		r, err := powerfail.New(2*pmem.FrameSize, powerfail.Config{DDIO: ddio})
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]protocol.DDIOState{false: protocol.DDIOOff, true: protocol.DDIOOn}[ddio]
		if got := ModelledDDIO(r.Properties()); got != want {
			t.Errorf("DDIO %v: %v", ddio, got)
		}
		r.Close()
	}
	r, err := pmem.NewAnonymous(2 * pmem.FrameSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := ModelledDDIO(r.Properties()); got != protocol.DDIOUnknown {
		t.Errorf("anonymous: %v", got)
	}
}

// TestFill: the posture survives the trip through a status reply.
func TestFill(t *testing.T) {
	f := newFakeTree(t)
	f.oneNIC((*fakeTree).skx, "memory_controller", skxPortA, cfgDDIOOff)
	f.softRDMA("rxe0")
	o := f.opts(protocol.DDIOPolicyVerify, memDAX)
	o.Software = true
	p, err := Probe(o)
	if err != nil {
		t.Fatal(err)
	}
	var r protocol.StatusReply
	p.Fill(&r)
	if r.Domain != pmem.DomainADR || r.PlatformDomain != pmem.DomainADR ||
		r.DDIOPolicy != protocol.DDIOPolicyVerify || !r.SoftwareRNIC || r.SoftwareDDIO != protocol.DDIOUnknown ||
		r.Methods != p.Methods() || len(r.Devices) != 2 {
		t.Fatalf("%+v", r)
	}
	want := protocol.DDIODevice{Name: "mlx5_0", PCI: skxNIC, RootPort: skxPort, Platform: protocol.PlatformSkylakeSP, State: protocol.DDIOOff, Reason: protocol.DDIOReasonRead}
	if r.Devices[0] != want || r.Devices[1].Name != "rxe0" || r.Devices[1].Reason != protocol.DDIOReasonNotPCI {
		t.Fatalf("devices %+v", r.Devices)
	}
}

// FuzzCPUInfo: any cpuinfo parses to some platform without panicking, and
// only a GenuineIntel family-6 model-85 part is given per-port control.
func FuzzCPUInfo(f *testing.F) {
	f.Add([]byte("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\n\n"))
	f.Add([]byte("vendor_id: AuthenticAMD\n"))
	f.Add([]byte(":::\n\n\nmodel:-1\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(dir+"/cpuinfo", b, 0o644); err != nil {
			t.Fatal(err)
		}
		c := readCPUInfo(dir)
		if perPort(c.platform()) && (c.vendor != "GenuineIntel" || c.family != 6 || c.model != 85) {
			t.Fatalf("per-port control for %+v", c)
		}
	})
}
