package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLog waits until brickd's log holds want, or fails the test.
func (d *daemon) waitLog(want string) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(d.log.String(), want) {
		select {
		case <-d.Exited:
			d.t.Fatalf("brickd exited (%v) before logging %q\n%s", d.Err, want, d.log)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("brickd did not log %q\n%s", want, d.log)
		}
	}
}

// TestHangupKeepsServing: SIGHUP neither kills brickd nor disturbs a
// session's read-write map, and SIGTERM afterwards is a clean stop: the
// block is not reported unclean.
func TestHangupKeepsServing(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...)
	mustCtl(t, d.Addr, "alloc", "0x200000")
	release := holdMap(t, d.Addr, "--rw", "0x200000")

	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog("SIGHUP: nothing to reload")
	if es := listJSON(t, d.Addr); len(es) != 1 || es[0].State != "mapped-rw" {
		t.Errorf("list after SIGHUP: %v, want the block still mapped-rw", es)
	}
	release()
	d.term()
	if es := listJSON(t, d.Addr, "--meta", filepath.Join(dir, "meta")); len(es) != 1 || es[0].State != "resident" {
		t.Errorf("list --meta after SIGHUP and SIGTERM: %v, want the block resident (clean)", es)
	}
}

// TestHangupRotatesKey: SIGHUP re-reads the --auth-key file; a file brickd
// cannot use leaves the current key in force.
func TestHangupRotatesKey(t *testing.T) {
	dir := t.TempDir()
	key, oldKey, newKey := filepath.Join(dir, "key"), filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for path, k := range map[string]string{key: "the first key, 32 bytes long....", oldKey: "the first key, 32 bytes long....", newKey: "the rotated key, 32 bytes long.."} {
		if err := os.WriteFile(path, []byte(k), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, brickdArgs(dir, "--auth-key", key)...)
	mustCtl(t, d.Addr, "--auth-key", oldKey, "status")

	hangup := func(want string) {
		t.Helper()
		if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		d.waitLog(want)
	}
	if err := os.Rename(newKey, key); err != nil {
		t.Fatal(err)
	}
	hangup("SIGHUP: reloaded --auth-key")
	if r := ctl(t, d.Addr, "--auth-key", oldKey, "status"); r.code != 3 {
		t.Errorf("status with the replaced key: exit %d %q, want 3", r.code, r.stderr)
	}
	mustCtl(t, d.Addr, "--auth-key", key, "status")

	// A key file others can read is refused; the rotated key stays.
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	hangup("SIGHUP: cannot reload --auth-key")
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, d.Addr, "--auth-key", key, "status")
	d.term()
	if !strings.Contains(d.log.String(), "msg=stopped") {
		t.Fatalf("no msg=stopped after SIGTERM:\n%s", d.log)
	}
}
