package protocol

import "strings"

// The enums of a StatusReply. Their numbers are part of the wire protocol:
// never renumber. Each type's String is the one name table for it; brickd,
// brickctl and the packages that compute the values (persist) use these
// types rather than their own.

// enumName is names[v], or unknown for a value the table does not name.
func enumName[T ~uint8 | ~uint16](names []string, v T, unknown string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return unknown
}

// Backend is the kind of memory behind the brick. What the memory promises
// is in Capability, so that a backend the protocol does not name (a test
// simulator) still reports something true.
type Backend uint8

// Backends. 5 is reserved and never sent: bricks built for tests have
// used it, so a peer that meets it should read it as BackendOther.
const (
	BackendOther     Backend = 0 // not one of the below: see the capabilities
	BackendAnonymous Backend = 1
	BackendFile      Backend = 2
	BackendFSDAX     Backend = 3
	BackendDevDAX    Backend = 4
)

var backendNames = [...]string{
	BackendAnonymous: "anonymous (volatile)",
	BackendFile:      "file (msync)",
	BackendFSDAX:     "fsdax",
	BackendDevDAX:    "devdax",
}

func (b Backend) String() string { return enumName(backendNames[:], b, "other") }

// Capability bits say how the brick makes its memory durable, whatever the
// backend. Bits not listed are reserved and zero.
type Capability uint8

// Capabilities.
const (
	CapCPUFlush Capability = 1 << 0 // durable by CPU cache write-back (CPUFlush names the instruction)
	CapMsync    Capability = 1 << 1 // durable by msync of the page cache
	CapVolatile Capability = 1 << 2 // lost at power failure whatever is flushed
	capKnown               = CapCPUFlush | CapMsync | CapVolatile
)

func (c Capability) String() string {
	var out []string
	for _, n := range []struct {
		bit  Capability
		name string
	}{{CapCPUFlush, "durable by CPU flush"}, {CapMsync, "durable by msync"}, {CapVolatile, "volatile"}} {
		if c&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if c&^capKnown != 0 {
		out = append(out, "unknown bits")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// CPUFlush is the instruction the brick writes its own stores (zeroing,
// tier moves, GPSPM) back to the persistence domain with.
type CPUFlush uint8

// CPU flush instructions.
const (
	CPUFlushNone       CPUFlush = 0 // not flushed by the CPU (msync, or volatile memory)
	CPUFlushCLFLUSH    CPUFlush = 1
	CPUFlushCLFLUSHOPT CPUFlush = 2
	CPUFlushCLWB       CPUFlush = 3
	CPUFlushSFENCE     CPUFlush = 4 // eADR: the caches are persistent, a fence suffices
	CPUFlushOther      CPUFlush = 5 // a CPU flush the protocol does not name
)

// CPUFlushOf is the code of an instruction mnemonic as pmem names it
// ("clwb", "clflushopt", "clflush", "sfence"); "" is CPUFlushNone and any
// other name CPUFlushOther.
func CPUFlushOf(mnemonic string) CPUFlush {
	switch mnemonic {
	case "":
		return CPUFlushNone
	case "clflush":
		return CPUFlushCLFLUSH
	case "clflushopt":
		return CPUFlushCLFLUSHOPT
	case "clwb":
		return CPUFlushCLWB
	case "sfence":
		return CPUFlushSFENCE
	}
	return CPUFlushOther
}

var cpuFlushNames = [...]string{
	CPUFlushNone:       "none",
	CPUFlushCLFLUSH:    "clflush+sfence",
	CPUFlushCLFLUSHOPT: "clflushopt+sfence",
	CPUFlushCLWB:       "clwb+sfence",
	CPUFlushSFENCE:     "sfence (eADR)",
	CPUFlushOther:      "other",
}

func (c CPUFlush) String() string { return enumName(cpuFlushNames[:], c, "unknown") }

// Domain is a persistence domain: how far from the CPU a store is safe
// from power failure.
type Domain uint8

// Domains, numbered from weakest to strongest (pmem and persist compare
// them).
const (
	DomainUnknown          Domain = 0 // nothing reported (no nd region)
	DomainNone             Domain = 1 // not power-fail safe without help (page cache, DRAM, emulated pmem)
	DomainMemoryController Domain = 2 // ADR: stores that reach the memory controller survive
	DomainCPUCache         Domain = 3 // eADR: stores in the CPU caches survive
)

var (
	domainNames  = [...]string{DomainNone: "none", DomainMemoryController: "memory_controller (ADR)", DomainCPUCache: "cpu_cache (eADR)"}
	domainLabels = [...]string{DomainNone: "none", DomainMemoryController: "adr", DomainCPUCache: "eadr"}
)

func (d Domain) String() string { return enumName(domainNames[:], d, "unknown") }

// Label is d as a short metric label value.
func (d Domain) Label() string { return enumName(domainLabels[:], d, "unknown") }

// DDIOPolicy is the DDIO policy (brickd --ddio); String is its flag value.
type DDIOPolicy uint8

// DDIO policies.
const (
	DDIOPolicyVerify    DDIOPolicy = 1 // APM only where DDIO is verified off
	DDIOPolicyDisable   DDIOPolicy = 2 // turn DDIO off per root port, then verify
	DDIOPolicyAssumeOff DDIOPolicy = 3 // the administrator declares DDIO off
	DDIOPolicyOff       DDIOPolicy = 4 // never APM
)

var ddioPolicyNames = [...]string{
	DDIOPolicyVerify:    "verify",
	DDIOPolicyDisable:   "disable",
	DDIOPolicyAssumeOff: "assume-off",
	DDIOPolicyOff:       "off",
}

func (p DDIOPolicy) String() string { return enumName(ddioPolicyNames[:], p, "unknown") }

// DDIOState is what the brick knows about DDIO for one device.
type DDIOState uint8

// DDIO states.
const (
	DDIOUnknown     DDIOState = 0 // not known: APM is not offered
	DDIOOn          DDIOState = 1 // read from the root port: on
	DDIOOff         DDIOState = 2 // read from the root port: off
	DDIODeclaredOff DDIOState = 3 // the administrator's word (assume-off)
)

var (
	ddioStateNames  = [...]string{DDIOOn: "on", DDIOOff: "off (verified)", DDIODeclaredOff: "off (declared by the administrator, not verified)"}
	ddioStateLabels = [...]string{DDIOOn: "on", DDIOOff: "off", DDIODeclaredOff: "declared-off"}
)

func (s DDIOState) String() string { return enumName(ddioStateNames[:], s, "unknown") }

// Label is s as a short metric label value.
func (s DDIOState) Label() string { return enumName(ddioStateLabels[:], s, "unknown") }

// Platform is the CPU platform of a device's root port.
type Platform uint8

// Platforms.
const (
	PlatformUnknown     Platform = 0
	PlatformSkylakeSP   Platform = 1
	PlatformCascadeLake Platform = 2
	PlatformIceLakeSP   Platform = 3
	PlatformIntelOther  Platform = 4 // other Intel (Sapphire Rapids and later, clients, …)
	PlatformAMD         Platform = 5
)

var platformNames = [...]string{
	PlatformSkylakeSP:   "Intel Skylake-SP",
	PlatformCascadeLake: "Intel Cascade Lake",
	PlatformIceLakeSP:   "Intel Ice Lake-SP",
	PlatformIntelOther:  "Intel (no per-port DDIO control)",
	PlatformAMD:         "AMD",
}

func (p Platform) String() string { return enumName(platformNames[:], p, "unknown") }

// DDIOReason says why a device's DDIO state is what it is.
type DDIOReason uint8

// DDIO reasons.
const (
	DDIOReasonRead           DDIOReason = 0 // read from the root port's registers
	DDIOReasonDeclared       DDIOReason = 1 // --ddio assume-off
	DDIOReasonPolicyOff      DDIOReason = 2 // --ddio off: not looked at
	DDIOReasonNoPermission   DDIOReason = 3 // config space unreadable (not root)
	DDIOReasonNoPortControl  DDIOReason = 4 // Intel part without per-port DDIO control
	DDIOReasonAMD            DDIOReason = 5 // AMD: no OS-visible DDIO switch
	DDIOReasonNotPCI         DDIOReason = 6 // software RDMA device (rxe, siw) or no PCI function
	DDIOReasonNoRootPort     DDIOReason = 7 // no root port between host bridge and device
	DDIOReasonUnknownCPU     DDIOReason = 8 // CPU not identified
	DDIOReasonDisableFailed  DDIOReason = 9 // --ddio disable wrote the bits but DDIO still reads on
	DDIOReasonDisabled       DDIOReason = 10
	DDIOReasonConfigReadFail DDIOReason = 11 // config space read failed otherwise
)

// Sentence explains r, for a device on platform p, to a person.
func (r DDIOReason) Sentence(p Platform) string {
	switch r {
	case DDIOReasonRead:
		return "read from the root port's perfctrlsts registers"
	case DDIOReasonDisabled:
		return "turned off by --ddio disable and read back"
	case DDIOReasonDeclared:
		return "declared off by the administrator (--ddio assume-off); the brick cannot verify it"
	case DDIOReasonPolicyOff:
		return "not examined: --ddio off never uses APM"
	case DDIOReasonNoPermission:
		return "the root port's configuration space past 64 bytes is readable only by root; run brickd as root or declare DDIO with --ddio assume-off"
	case DDIOReasonNoPortControl:
		return p.String() + " has no per-port DDIO control (BIOS setting only); if DDIO is off in the BIOS, declare it with --ddio assume-off"
	case DDIOReasonAMD:
		return "AMD platforms have no DDIO switch the operating system can read; declare it with --ddio assume-off if the platform does not allocate inbound writes in cache"
	case DDIOReasonNotPCI:
		return "not a PCI device (a software RDMA device such as rxe or siw places data with CPU stores)"
	case DDIOReasonNoRootPort:
		return "no PCIe root port found between the host bridge and the device"
	case DDIOReasonUnknownCPU:
		return "the CPU could not be identified from cpuinfo"
	case DDIOReasonDisableFailed:
		return "--ddio disable wrote the root port's registers but DDIO still reads on"
	case DDIOReasonConfigReadFail:
		return "the root port's configuration space could not be read"
	}
	return "unknown"
}
