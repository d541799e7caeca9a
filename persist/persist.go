// Package persist decides how a client's RDMA Writes to the brick become
// persistent, and describes the brick's persistence posture to people.
//
// An RDMA WRITE completes at the initiator when the bytes have reached the
// target's NIC, not the persistence domain. Three methods close the gap
// (docs/design.md, "Persistence"); the brick picks one per session and announces
// it in every Map reply:
//
//   - FLUSH: an RDMA FLUSH (persistent placement, range) — when the RNIC
//     offers it (verbs.Caps.Flush) and the memory can honour it: memory in
//     the ADR/eADR domain, or, on the software RNIC, any persistent memory
//     (its FLUSH runs the region's own flush: CPU flush or msync).
//   - APM: a small RDMA Read after the Writes on the same queue pair. By
//     PCIe ordering the Read's completion means the Writes reached the
//     root complex — the memory controller when DDIO is off for the NIC's
//     root port, the last-level cache when it is on. So APM is offered only
//     when the memory is DAX in the persistence domain and either DDIO is
//     verified (or declared) off for the session's device, or the platform
//     is eADR (the caches are inside the domain).
//   - GPSPM: a persist request the brick serves with a CPU flush or msync.
//     Always correct for persistent memory; costs a round trip and CPU.
//
// Volatile (anonymous) memory gets PersistNone: nothing is ever persistent,
// and the client library says so.
//
// # DDIO
//
// Intel's Data Direct I/O makes inbound PCIe writes allocate in the LLC.
// Per root port it is governed by perfctrlsts_0 (offset 0x180: bit 7
// Use_Allocating_Flow_Wr, bit 3 NoSnoopOpWrEn) and perfctrlsts_1 (byte
// 0x185, bit 0 TPHDIS) of the root port's PCI configuration space — on
// Skylake-SP and Cascade Lake only. "Off" is the strict reading PMDK's ddio
// tool used: alloc-flow 0, no-snoop 0, TPHDIS 1. Ice Lake and later parts
// expose DDIO only as a BIOS option, and AMD has no DDIO switch the OS can
// see, so there the administrator declares it (--ddio assume-off).
//
// Policies: verify (default; APM only where DDIO is verified off), disable
// (write the bits, then verify), assume-off (the administrator's word,
// logged loudly), off (never APM).
//
// Everything is read through a sysfs root and a procfs root (Options) so
// that tests run against fake trees; production uses /sys and /proc.
//
// # The software RNIC
//
// Over tcp:// there is no NIC and no root port: the software RNIC places
// bytes with CPU stores. Its "DDIO state" is whatever Options.SoftwareDDIO
// says — the power-fail simulator's configuration in tests, unknown in
// production — so in production APM is chosen for tcp:// sessions only with
// --ddio assume-off (or on an eADR platform). Note that real CPU stores land
// in the cache: on an ADR-only platform assume-off over tcp:// is a claim the
// hardware does not back.
package persist

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// DefaultPolicy is the policy when none is configured.
const DefaultPolicy = protocol.DDIOPolicyVerify

// ParsePolicy parses a --ddio value (a DDIOPolicy's String); "" is the default.
func ParsePolicy(s string) (protocol.DDIOPolicy, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DefaultPolicy, nil
	}
	for p := protocol.DDIOPolicyVerify; p <= protocol.DDIOPolicyOff; p++ {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want verify, disable, assume-off or off", ErrPolicy, s)
}

// ddioOff reports whether s lets APM be offered.
func ddioOff(s protocol.DDIOState) bool {
	return s == protocol.DDIOOff || s == protocol.DDIODeclaredOff
}

// Options configure Probe.
type Options struct {
	Policy protocol.DDIOPolicy // zero: DefaultPolicy
	// Memory is what the region can promise (pmem.Region.Properties).
	Memory pmem.Properties
	// SysRoot and ProcRoot are where sysfs and procfs are read ("/sys" and
	// "/proc" when empty). Tests point them at fake trees.
	SysRoot, ProcRoot string
	// Software: sessions arrive over the software RNIC (tcp://).
	Software bool
	// SoftwareDDIO is the truth about the software RNIC's placements: a
	// modelled region's DDIO setting in tests (ModelledDDIO),
	// protocol.DDIOUnknown otherwise.
	SoftwareDDIO protocol.DDIOState
	// NoDevices skips looking for RDMA devices (a brick that serves only
	// the software RNIC in a test).
	NoDevices bool
}

// Posture is the brick's persistence posture: what it can promise, and why.
type Posture struct {
	Policy protocol.DDIOPolicy
	Memory pmem.Properties
	// Domain is the memory's effective persistence domain: where a store
	// that reached the memory controller stands. pmem.DomainNone for memory
	// behind a page cache or volatile memory.
	Domain pmem.Domain
	// Platform is what /sys/bus/nd reports (the weakest nd region).
	Platform pmem.Domain
	// Devices are the RDMA devices with their DDIO state, by name.
	Devices []Device
	// Software is the DDIO state used for software RNIC sessions; valid
	// when SoftwareRNIC is set.
	SoftwareRNIC bool
	Software     protocol.DDIOState
	// Notes are sentences for the operator (warnings and declarations).
	Notes []string
}

// Path is what serves a session: the software RNIC, or an RDMA device.
// The caller builds it from the queue pair's own description
// (verbs.QP.Device); persist never looks at provider types.
type Path struct {
	Software bool
	Device   string // RDMA device name; "" when the provider does not say
	PCI      string // the device's PCI function; "" when it has none
}

// Method chooses the persist method for a session on a queue pair with
// caps, served by path, whose client negotiated features (protocol.Feature*:
// a method the client did not ask for is never chosen; GPSPM is the
// fallback every client understands).
func (p *Posture) Method(caps verbs.Caps, path Path, features uint64) protocol.PersistMethod {
	if !p.Memory.Persistent {
		return protocol.PersistNone
	}
	if caps.Flush && features&protocol.FeatureFlush != 0 && p.flushOK(path.Software) {
		return protocol.PersistFlush
	}
	if features&protocol.FeatureAPM != 0 && p.apmOK(p.ddio(path)) {
		return protocol.PersistAPM
	}
	return protocol.PersistGPSPM
}

// Features are the persist features the brick offers in its hello.
func (p *Posture) Features() uint64 {
	var f uint64
	for _, m := range p.Methods().List() {
		f |= m.Feature()
	}
	return f
}

// flushOK: an RDMA FLUSH makes bytes persistent. A hardware RNIC's FLUSH
// reaches the memory controller, so the memory must be in the domain; the
// software RNIC's FLUSH runs the region's flush (CPU flush or msync).
func (p *Posture) flushOK(software bool) bool {
	return p.Memory.Persistent && (p.Domain >= pmem.DomainADR || software)
}

// apmOK: a Read's completion implies the writes are persistent.
func (p *Posture) apmOK(s protocol.DDIOState) bool {
	if p.Policy == protocol.DDIOPolicyOff || !p.Memory.Persistent {
		return false
	}
	switch p.Domain {
	case pmem.DomainEADR:
		return true // the LLC is inside the domain: DDIO does not matter
	case pmem.DomainADR:
		return ddioOff(s)
	}
	return false
}

// ddio is the DDIO state for sessions on path.
func (p *Posture) ddio(path Path) protocol.DDIOState {
	if path.Software {
		return p.Software
	}
	for _, d := range p.Devices {
		if (path.Device != "" && d.Name == path.Device) || (path.Device == "" && path.PCI != "" && d.PCI == path.PCI) {
			return d.State
		}
	}
	if p.Policy == protocol.DDIOPolicyAssumeOff {
		return protocol.DDIODeclaredOff
	}
	return protocol.DDIOUnknown
}

// Methods is the set of methods some session may be given, for the status
// reply. FLUSH is included when the memory can honour it; a session gets
// it only if its RNIC offers FLUSH.
func (p *Posture) Methods() protocol.PersistMethods {
	if !p.Memory.Persistent {
		return 0
	}
	m := protocol.PersistMethods(0).With(protocol.PersistGPSPM)
	if p.flushOK(p.SoftwareRNIC) {
		m = m.With(protocol.PersistFlush)
	}
	apm := p.SoftwareRNIC && p.apmOK(p.Software)
	for _, d := range p.Devices {
		apm = apm || p.apmOK(d.State)
	}
	if apm {
		m = m.With(protocol.PersistAPM)
	}
	return m
}

// Log writes the posture to log: one line, plus one per device and note.
// A declared DDIO state is logged as a warning: it is an unverified claim.
func (p *Posture) Log(log *slog.Logger) {
	var names []string
	for _, m := range p.Methods().List() {
		names = append(names, m.String())
	}
	methods := strings.Join(names, ",")
	if methods == "" {
		methods = "none (volatile)"
	}
	log.Info("persistence posture", "backend", p.Memory.Kind, "persistent", p.Memory.Persistent,
		"domain", p.Domain.String(), "platform_domain", p.Platform.String(), "ddio_policy", p.Policy.String(),
		"methods", methods, "rdma_devices", len(p.Devices))
	if p.SoftwareRNIC {
		log.Info("ddio", "device", "software RNIC (tcp://)", "state", p.Software.String())
	}
	for _, d := range p.Devices {
		log.Info("ddio", "device", d.Name, "pci", d.PCI, "root_port", d.RootPort, "platform", d.Platform.String(),
			"state", d.State.String(), "why", d.Sentence())
	}
	for _, n := range p.Notes {
		log.Warn(n)
	}
}
