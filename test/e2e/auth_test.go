package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuthKey: brickd --auth-key and brickctl --auth-key / BRICK_AUTH_KEY
// as an operator uses them, and the warnings without a key.
func TestAuthKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("an operator's key, 32 bytes long\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A key file others can read is refused with a sentence.
	if stderr := brickdRefuses(t, time.Minute, brickdArgs(dir, "--auth-key", key)...); !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("brickd with a 0644 key file:\n%s", stderr)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, brickdArgs(dir, "--auth-key", key)...)
	if strings.Contains(d.log.String(), "no --auth-key") {
		t.Errorf("brickd with a key warned about having none:\n%s", d.log)
	}

	if r := ctl(t, d.Addr, "status"); r.code != 3 || !strings.Contains(r.stderr, "--auth-key") {
		t.Errorf("status without a key: exit %d %q", r.code, r.stderr)
	}
	if r := ctl(t, d.Addr, "--auth-key", key, "status"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Errorf("status with the key: exit %d %q", r.code, r.stderr)
	}
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("not the operator's key, 32 bytes"), 0o600)
	if r := ctl(t, d.Addr, "--auth-key", wrong, "status"); r.code == 0 || !strings.Contains(r.stderr, "refused the key") {
		t.Errorf("status with a wrong key: exit %d %q", r.code, r.stderr)
	}
	// The key itself in the environment.
	env := exec.Command(filepath.Join(binDir, "brickctl"), "--addr", d.Addr, "alloc", "0x200000")
	env.Env = append(os.Environ(), "BRICK_AUTH_KEY=an operator's key, 32 bytes long")
	if out, err := env.CombinedOutput(); err != nil {
		t.Errorf("alloc with BRICK_AUTH_KEY: %v %s", err, out)
	}

	// Without a key: brickd warns at start, brickctl on every session.
	d2 := startDaemon(t, brickdArgs(t.TempDir())...)
	if !strings.Contains(d2.log.String(), "no --auth-key") {
		t.Errorf("brickd without a key did not warn:\n%s", d2.log)
	}
	if r := ctl(t, d2.Addr, "status"); r.code != 0 || !strings.Contains(r.stderr, "warning: the brick at") {
		t.Errorf("status of a keyless brick: exit %d %q", r.code, r.stderr)
	}
	if r := ctl(t, d2.Addr, "--auth-key", key, "status"); r.code == 0 || !strings.Contains(r.stderr, "does not authenticate") || strings.Contains(r.stderr, "give the brick's key") {
		t.Errorf("status of a keyless brick with a key: exit %d %q", r.code, r.stderr)
	}
}
