package persist

import (
	"fmt"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
)

// Probe examines the platform under opts' roots and returns the posture,
// applying the DDIO policy (DDIOPolicyDisable writes root-port registers).
//
// It refuses (an error wrapping ErrRefused, phrased for the operator) a
// policy that can only serve to claim APM on memory that cannot give it:
// --ddio assume-off or disable with a backend outside the persistence
// domain (a plain file, anonymous memory, DAX without a reported domain).
// The alternative, running on with GPSPM, would leave an operator
// believing the declaration took effect.
func Probe(opts Options) (*Posture, error) {
	if opts.Policy == 0 {
		opts.Policy = DefaultPolicy
	}
	if opts.SysRoot == "" {
		opts.SysRoot = "/sys"
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	p := &Posture{Policy: opts.Policy, Memory: opts.Memory, SoftwareRNIC: opts.Software}
	plat, err := pmem.DetectDomain(opts.SysRoot)
	if err != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("the platform's persistence domain could not be read: %v", err))
	}
	p.Platform = plat
	p.Domain = effectiveDomain(opts.Memory)

	if (p.Policy == protocol.DDIOPolicyAssumeOff || p.Policy == protocol.DDIOPolicyDisable) && p.Domain < pmem.DomainADR {
		return nil, fmt.Errorf("%w: --ddio %s only matters for the APM method, and the %s backend cannot use APM (%s); use --ddio verify or --ddio off",
			ErrRefused, p.Policy, orUnnamed(string(opts.Memory.Kind)), whyNoDomain(opts.Memory))
	}

	switch p.Policy {
	case protocol.DDIOPolicyAssumeOff:
		p.Software = protocol.DDIODeclaredOff
		p.Notes = append(p.Notes, "DDIO is ASSUMED OFF on the administrator's word (--ddio assume-off): clients will be told that a small RDMA Read after their Writes makes them persistent; if DDIO is in fact on, acknowledged writes can be lost at a power failure")
	case protocol.DDIOPolicyOff:
		p.Software = protocol.DDIOUnknown
	default:
		p.Software = opts.SoftwareDDIO
	}

	if !opts.NoDevices {
		names, err := rdmaDevices(opts.SysRoot)
		if err != nil {
			return nil, err
		}
		cpu := readCPUInfo(opts.ProcRoot)
		for _, n := range names {
			d := probeDevice(opts.SysRoot, cpu, n, p.Policy)
			p.Devices = append(p.Devices, d)
			if p.Policy == protocol.DDIOPolicyDisable && d.State != protocol.DDIOOff {
				p.Notes = append(p.Notes, fmt.Sprintf("--ddio disable could not turn DDIO off for %s: %s; its sessions use GPSPM", d.Name, d.Sentence()))
			}
		}
	}
	if isDAX(opts.Memory) && !opts.Memory.Persistent {
		p.Notes = append(p.Notes, fmt.Sprintf("the %s memory is outside any persistence domain (the platform reports %s): it is treated as volatile and no write is ever acknowledged persistent", opts.Memory.Kind, opts.Memory.Domain))
	}
	return p, nil
}

// effectiveDomain is where the memory's stores become persistent.
func effectiveDomain(m pmem.Properties) pmem.Domain {
	if !m.Persistent || !m.InPersistenceDomain {
		return pmem.DomainNone // volatile, or a page cache stands between
	}
	if d := m.Domain; d >= pmem.DomainADR {
		return d
	}
	// In the domain by the backend's word but no named domain: the
	// weakest that makes "in the domain" true.
	return pmem.DomainADR
}

func isDAX(m pmem.Properties) bool { return m.Kind == pmem.KindDevDAX || m.Kind == pmem.KindFSDAX }

func whyNoDomain(m pmem.Properties) string {
	switch {
	case isDAX(m):
		return fmt.Sprintf("the platform reports its persistence domain as %s", m.Domain)
	case !m.Persistent:
		return "its memory is volatile"
	}
	return "its stores reach the page cache, which only msync makes durable"
}

// ModelledDDIO is the DDIO state a region's model of the platform gives
// the software RNIC's placements (the power-fail simulator's setting, the
// hardware truth in tests), protocol.DDIOUnknown for real memory.
func ModelledDDIO(m pmem.Properties) protocol.DDIOState {
	switch m.DDIO {
	case pmem.DDIOModelOn:
		return protocol.DDIOOn
	case pmem.DDIOModelOff:
		return protocol.DDIOOff
	}
	return protocol.DDIOUnknown
}

func orUnnamed(s string) string {
	if s == "" {
		return "configured"
	}
	return s
}
