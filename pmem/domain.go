package pmem

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/brick-storage/brick/protocol"
)

// DefaultSysfsRoot is where sysfs is mounted. Every sysfs read in this
// package goes through a root so that tests can point it at a fake tree.
const DefaultSysfsRoot = "/sys"

// Domain is a platform persistence domain: the point from which a store
// survives power loss. It is the wire's enum (protocol.Domain, numbered
// from weakest to strongest); pmem names its values after the mechanism
// and reads them in the kernel's words (regionDomain).
type Domain = protocol.Domain

// Persistence domains.
const (
	// DomainUnknown: not DAX memory, or no NVDIMM region on the machine.
	DomainUnknown = protocol.DomainUnknown
	// DomainNone: an nd region with no persistence guarantee (the kernel
	// leaves persistence_domain empty, e.g. virtio-pmem).
	DomainNone = protocol.DomainNone
	// DomainADR: stores are persistent once they reach the memory
	// controller; CPU caches must be flushed.
	DomainADR = protocol.DomainMemoryController
	// DomainEADR: the CPU caches are flushed on power loss; a store is
	// persistent once globally visible.
	DomainEADR = protocol.DomainCPUCache
)

// persistentDomain reports whether memory in domain d is persistent at all
// (ADR or eADR).
func persistentDomain(d Domain) bool { return d >= DomainADR }

// ParseDomain parses an administrator's declaration: "adr" or
// "memory_controller", "eadr" or "cpu_cache", "none".
func ParseDomain(s string) (Domain, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "adr", "memory_controller":
		return DomainADR, nil
	case "eadr", "cpu_cache":
		return DomainEADR, nil
	case "none":
		return DomainNone, nil
	case "", "auto", "detect":
		return DomainUnknown, nil
	}
	return DomainUnknown, fmt.Errorf("persistence domain %q: want adr, eadr or none: %w", s, ErrNotSupported)
}

// DetectDomain reads every NVDIMM region's persistence_domain under
// sysfsRoot ("" means /sys) and returns the weakest: DomainEADR only when
// every region says cpu_cache, which is the only case in which CPU flushes
// may be skipped. No region at all gives DomainUnknown (no NVDIMM). A
// region without the file counts as DomainNone: the kernel hides the
// attribute when the region has no persistence flag (virtio-pmem, memmap=
// emulated pmem), and a kernel too old to have it (before 4.17) cannot say;
// either way the administrator may declare the domain (Options.Domain). The
// result is not cached; callers probe once when they open a region.
func DetectDomain(sysfsRoot string) (Domain, error) {
	if sysfsRoot == "" {
		sysfsRoot = DefaultSysfsRoot
	}
	dir := filepath.Join(sysfsRoot, "bus", "nd", "devices")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return DomainUnknown, nil
	}
	if err != nil {
		return DomainUnknown, fmt.Errorf("pmem: listing NVDIMM regions in %s: %w", dir, err)
	}
	var regions []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "region") {
			regions = append(regions, e.Name())
		}
	}
	sort.Strings(regions)
	found := DomainUnknown
	for _, r := range regions {
		d, err := regionDomain(filepath.Join(dir, r))
		if err != nil {
			return DomainUnknown, err
		}
		if found == DomainUnknown || d < found {
			found = d
		}
	}
	return found, nil
}

// regionDomain reads one nd region's persistence_domain.
func regionDomain(dir string) (Domain, error) {
	p := filepath.Join(dir, "persistence_domain")
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Hidden by region_visible() when neither ND_REGION_PERSIST_CACHE
		// nor ND_REGION_PERSIST_MEMCTRL is set: no guarantee.
		return DomainNone, nil
	}
	if err != nil {
		return DomainUnknown, fmt.Errorf("pmem: reading %s: %w", p, err)
	}
	switch v := strings.TrimSpace(string(b)); v {
	case "cpu_cache":
		return DomainEADR, nil
	case "memory_controller":
		return DomainADR, nil
	case "", "none":
		return DomainNone, nil
	default:
		return DomainNone, fmt.Errorf("pmem: %s says %q, which this brick does not know: %w", p, v, ErrNotSupported)
	}
}

// daxProperties are the properties of a CPU-flushed DAX mapping in domain d.
// Outside any persistence domain the memory is reported volatile: the brick
// never claims a persistence the platform does not give.
func daxProperties(kind Kind, d Domain) Properties {
	p := Properties{Kind: kind, Domain: d, FlushMethod: FlushCPU, CPUFlush: CPUFlushInstruction()}
	if persistentDomain(d) {
		p.Persistent = true
		p.InPersistenceDomain = true
	}
	if d == DomainEADR {
		p.SkipCPUFlush = true
		p.CPUFlush = "sfence"
	}
	return p
}

// resolveDomain is the domain a DAX backend uses: the administrator's
// declaration when given, else what sysfs says.
func resolveDomain(opts Options) (Domain, error) {
	if opts.Domain != DomainUnknown {
		return opts.Domain, nil
	}
	return DetectDomain(opts.SysfsRoot)
}
