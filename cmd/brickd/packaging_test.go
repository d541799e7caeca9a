package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// unitSettings reads a systemd unit's Key=Value lines; a key set more
// than once keeps every value.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", path, line)
		}
		kv[k] = append(kv[k], v)
	}
	return kv
}

var stateRE = regexp.MustCompile(`/var/lib/[^\s"']*`)

// TestUnitAndConfigAgree: docs/brickd.service runs brickd on
// docs/brickd.yaml as make install places them, and the paths the config
// names are ones the hardened unit lets brickd use.
func TestUnitAndConfigAgree(t *testing.T) {
	const unitPath, cfgPath = "../../docs/brickd.service", "../../docs/brickd.yaml"
	unit := unitSettings(t, unitPath)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { s, _ := cfg[k].(string); return s }
	has := func(k, v string) bool {
		for _, x := range unit[k] {
			if x == v {
				return true
			}
		}
		return false
	}

	if !has("ExecStart", "/usr/local/bin/brickd") {
		t.Errorf("ExecStart = %q; make install (PREFIX=/usr/local) puts brickd in /usr/local/bin", unit["ExecStart"])
	}
	if !has("Environment", "BRICK_CONFIG=/etc/brick/brickd.yaml") {
		t.Errorf("Environment = %q; make install puts the config in /etc/brick/brickd.yaml", unit["Environment"])
	}
	if !has("StateDirectory", "brick") {
		t.Fatalf("StateDirectory = %q, want brick", unit["StateDirectory"])
	}
	// Every state path the config shows, set or in a comment, is in the
	// state directory: ProtectSystem=strict makes the rest read-only.
	paths := stateRE.FindAllString(string(b), -1)
	if len(paths) == 0 || !strings.HasPrefix(str("meta"), "/var/lib/brick/") {
		t.Errorf("meta: %q, want a path under /var/lib/brick", str("meta"))
	}
	for _, p := range paths {
		if p != "/var/lib/brick" && !strings.HasPrefix(p, "/var/lib/brick/") {
			t.Errorf("%s names %s, outside the unit's StateDirectory /var/lib/brick", cfgPath, p)
		}
	}
	if pm := str("pmem"); strings.HasPrefix(pm, "/dev/") && !has("DeviceAllow", pm+" rw") {
		t.Errorf("pmem: %s, but DeviceAllow = %q", pm, unit["DeviceAllow"])
	}
	if strings.HasPrefix(str("listen"), "rdma://") {
		for _, d := range []string{"char-infiniband_verbs rw", "/dev/infiniband/rdma_cm rw"} {
			if !has("DeviceAllow", d) {
				t.Errorf("listen: %s needs DeviceAllow=%s", str("listen"), d)
			}
		}
		if !has("LimitMEMLOCK", "infinity") {
			t.Errorf("listen: %s registers the region; LimitMEMLOCK = %q", str("listen"), unit["LimitMEMLOCK"])
		}
	}
	if k := str("auth-key"); k != "" && filepath.Dir(k) != "/etc/brick" {
		t.Errorf("auth-key: %s; the unit's comments and make install keep it in /etc/brick", k)
	}
	if !has("ExecReload", "/bin/kill -HUP $MAINPID") {
		t.Errorf("ExecReload = %q; brickd reloads its key on SIGHUP", unit["ExecReload"])
	}
}
