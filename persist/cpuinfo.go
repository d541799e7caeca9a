package persist

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/brick-storage/brick/protocol"
)

// cpuInfo is the first processor's identity from cpuinfo.
type cpuInfo struct {
	vendor          string // GenuineIntel, AuthenticAMD, …
	family, model   int
	stepping        int
	ok              bool
	modelName, path string
}

// readCPUInfo parses procRoot/cpuinfo. Every socket of a server carries the
// same part, so the first processor stands for all.
func readCPUInfo(procRoot string) cpuInfo {
	c := cpuInfo{path: filepath.Join(procRoot, "cpuinfo")}
	f, err := os.Open(c.path)
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := 0
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			if strings.TrimSpace(sc.Text()) == "" && seen > 0 {
				break // end of the first processor
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		n, _ := strconv.Atoi(v)
		switch k {
		case "vendor_id":
			c.vendor = v
			seen++
		case "cpu family":
			c.family = n
		case "model":
			c.model = n
		case "stepping":
			c.stepping = n
		case "model name":
			c.modelName = v
		}
	}
	c.ok = c.vendor != ""
	return c
}

// platform classifies the CPU. Family 6 model 85 is Skylake-SP at
// steppings 0–4, Cascade Lake at 5–7 (Cooper Lake, 10–11, is not
// classified as either: its per-port control is not documented).
func (c cpuInfo) platform() protocol.Platform {
	switch {
	case !c.ok:
		return protocol.PlatformUnknown
	case c.vendor == "AuthenticAMD" || c.vendor == "HygonGenuine":
		return protocol.PlatformAMD
	case c.vendor != "GenuineIntel":
		return protocol.PlatformUnknown
	case c.family == 6 && c.model == 85 && c.stepping <= 4:
		return protocol.PlatformSkylakeSP
	case c.family == 6 && c.model == 85 && c.stepping <= 7:
		return protocol.PlatformCascadeLake
	case c.family == 6 && (c.model == 106 || c.model == 108):
		return protocol.PlatformIceLakeSP
	}
	return protocol.PlatformIntelOther
}
