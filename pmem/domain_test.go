package pmem

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeTree writes files (path → content) under a temp sysfs root.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectDomain(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Domain
		err   error
	}{
		{"no nd bus", map[string]string{"bus/pci/x": ""}, DomainUnknown, nil},
		{"nd bus without regions", map[string]string{"bus/nd/devices/ndbus0/x": "", "bus/nd/devices/nmem0/x": ""}, DomainUnknown, nil},
		{"one ADR region", map[string]string{"bus/nd/devices/region0/persistence_domain": "memory_controller\n"}, DomainADR, nil},
		{"all eADR", map[string]string{
			"bus/nd/devices/region0/persistence_domain": "cpu_cache\n",
			"bus/nd/devices/region1/persistence_domain": "cpu_cache\n",
		}, DomainEADR, nil},
		{"mixed eADR and ADR is ADR", map[string]string{
			"bus/nd/devices/region0/persistence_domain": "cpu_cache\n",
			"bus/nd/devices/region1/persistence_domain": "memory_controller\n",
		}, DomainADR, nil},
		{"empty domain (virtio-pmem) is none", map[string]string{
			"bus/nd/devices/region0/persistence_domain": "cpu_cache\n",
			"bus/nd/devices/region1/persistence_domain": "\n",
		}, DomainNone, nil},
		// The kernel hides persistence_domain when the region has neither
		// ND_REGION_PERSIST_CACHE nor ND_REGION_PERSIST_MEMCTRL (virtio-pmem,
		// memmap= emulated pmem): no file means no guarantee.
		{"region without the file is none", map[string]string{"bus/nd/devices/region0/size": "1024"}, DomainNone, nil},
		{"ADR region and one without the file is none", map[string]string{
			"bus/nd/devices/region0/persistence_domain": "memory_controller\n",
			"bus/nd/devices/region1/size":               "1024",
		}, DomainNone, nil},
		{"unknown value", map[string]string{"bus/nd/devices/region0/persistence_domain": "flux_capacitor\n"}, DomainUnknown, ErrNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeTree(t, tt.files)
			got, err := DetectDomain(root)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("DetectDomain = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDaxProperties(t *testing.T) {
	tests := []struct {
		d                          Domain
		persistent, inDomain, skip bool
	}{
		{DomainADR, true, true, false},
		{DomainEADR, true, true, true},
		{DomainNone, false, false, false},
		{DomainUnknown, false, false, false},
	}
	for _, tt := range tests {
		p := daxProperties(KindDevDAX, tt.d)
		if p.Persistent != tt.persistent || p.InPersistenceDomain != tt.inDomain || p.SkipCPUFlush != tt.skip || p.FlushMethod != FlushCPU || p.Domain != tt.d {
			t.Errorf("domain %s: %+v", tt.d, p)
		}
		if tt.skip && p.CPUFlush != "sfence" {
			t.Errorf("eADR CPUFlush = %q, want sfence", p.CPUFlush)
		}
	}
}

func TestParseDomainKind(t *testing.T) {
	for in, want := range map[string]Domain{"adr": DomainADR, "memory_controller": DomainADR, "EADR": DomainEADR, "cpu_cache": DomainEADR, "none": DomainNone, "": DomainUnknown, "auto": DomainUnknown} {
		if got, err := ParseDomain(in); err != nil || got != want {
			t.Errorf("ParseDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseDomain("flash"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("ParseDomain(flash) = %v", err)
	}
	for in, want := range map[string]Kind{"devdax": KindDevDAX, "fsdax": KindFSDAX, "file": KindFile, "anonymous": KindAnonymous, "auto": "", "": ""} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseKind("powerfail"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("ParseKind(powerfail) = %v", err)
	}
}
