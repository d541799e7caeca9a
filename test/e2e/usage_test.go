package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIUsageErrors: a mistake on the command line is one sentence on
// stderr and exit 2 (brickctl) — not the help text, not exit 1 — and
// brickd refuses stray arguments, malformed addresses and ports in use
// before it creates anything.
func TestCLIUsageErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	inUse := taken.Addr().String()
	const nobody = "tcp://127.0.0.1:1" // never dialled: the command line fails first
	for _, args := range [][]string{
		{"--bogus"},
		{"alloc", "--bogus", "0x200000"},
		{"nosuch"},
		{"help", "nosuch"},
		{"--timeout", "soon", "list"},
		{"bench", "--duration", "x"},
		{"alloc", "zz"},
		{"--timeout", "0", "status"},
		{"--addr", "tcp://127.0.0.1:99999", "status"},
	} {
		r := ctl(t, nobody, args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		if r.code != 2 || r.stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], "brickctl: ") || !strings.HasSuffix(lines[0], ".") {
			t.Errorf("brickctl %s: exit %d, stdout %q, stderr %q; want exit 2 and one sentence on stderr",
				strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}

	for _, tt := range []struct {
		args []string
		say  string
	}{
		{[]string{"--listen", "tcp://127.0.0.1:1", "--metrics", "", "stray"}, `unexpected argument "stray"`},
		{[]string{"--listen", "127.0.0.1:7470", "--metrics", ""}, "has no scheme"},
		{[]string{"--listen", "tcp://127.0.0.1:1", "--metrics", "9470"}, "want HOST:PORT"},
		{[]string{"--listen", "tcp://" + inUse, "--metrics", ""}, "cannot listen on tcp://" + inUse},
		{[]string{"--listen", "tcp://127.0.0.1:0", "--metrics", inUse}, "cannot serve metrics on " + inUse},
	} {
		dir := t.TempDir()
		stderr := brickdRefuses(t, time.Minute, append(tt.args,
			"--pmem", filepath.Join(dir, "pmem.img"), "--meta", filepath.Join(dir, "meta"))...)
		if !strings.Contains(stderr, tt.say) {
			t.Errorf("brickd %v:\n%s", tt.args, stderr)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
			t.Errorf("brickd %v created %v", tt.args, m)
		}
	}
}
