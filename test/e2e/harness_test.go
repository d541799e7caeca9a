// Package e2e drives the real brickd and brickctl binaries: start, verbs,
// data through the software RNIC, SIGKILL, restart, and the after-crash view.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brick-storage/brick/internal/brickdproc"
	"github.com/brick-storage/brick/internal/testlog"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brick-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	var extra []string
	if raceFlag != "" {
		extra = append(extra, raceFlag)
	}
	if err := brickdproc.Build(dir, extra, "github.com/brick-storage/brick/cmd/brickd", "github.com/brick-storage/brick/cmd/brickctl"); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		return 1
	}
	binDir = dir
	return m.Run()
}

// daemon is a running brickd.
type daemon struct {
	*brickdproc.Proc
	t   *testing.T
	log *logBuffer
}

// logBuffer collects brickd's stderr; the reader goroutine writes it while
// the test reads it.
type logBuffer = testlog.Buffer

// brickdArgs are the flags for a test brick rooted at dir.
func brickdArgs(dir string, extra ...string) []string {
	return brickdproc.Args(dir, "64MiB", extra...)
}

// grace bounds brickd's start and its exit after a signal.
const grace = 60 * time.Second

// startDaemon starts brickd and waits for its "listening" log line.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	log := new(logBuffer)
	p, err := brickdproc.Start(filepath.Join(binDir, "brickd"), args, log, grace)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	t.Cleanup(p.Kill)
	return &daemon{Proc: p, t: t, log: log}
}

// stop sends sig and returns brickd's exit.
func (d *daemon) stop(sig syscall.Signal) error {
	d.t.Helper()
	err := d.Stop(sig, grace)
	if errors.Is(err, brickdproc.ErrNoExit) {
		d.t.Fatalf("%v\n%s", err, d.log)
	}
	return err
}

// term stops brickd with SIGTERM and fails the test unless it exits
// cleanly.
func (d *daemon) term() {
	d.t.Helper()
	if err := d.stop(syscall.SIGTERM); err != nil {
		d.t.Fatalf("brickd SIGTERM exit: %v\n%s", err, d.log)
	}
}

// kill stops brickd with SIGKILL, as a crash would.
func (d *daemon) kill() {
	d.t.Helper()
	if err := d.stop(syscall.SIGKILL); err == nil {
		d.t.Fatal("brickd exited cleanly from SIGKILL?")
	}
}

// brickdRefuses runs brickd, which must exit with code 1 within timeout,
// and returns its stderr.
func brickdRefuses(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "brickd"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("brickd did not refuse within %v; stderr has %d lines, ending:\n%s", timeout, strings.Count(stderr.String(), "\n"), tail(stderr.String(), 5))
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		// A signal (SIGBUS) shows as exit code -1.
		t.Fatalf("brickd: %v (%v), want exit 1\n%s", err, cmd.ProcessState, tail(stderr.String(), 5))
	}
	return stderr.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ctlResult is one brickctl run.
type ctlResult struct {
	code   int
	stdout string
	stderr string
}

// ctl runs brickctl against the daemon at addr.
func ctl(t *testing.T, addr string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "brickctl"), append([]string{"--addr", addr}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := ctlResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("brickctl %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// mustCtl runs brickctl and fails the test unless it succeeds.
func mustCtl(t *testing.T, addr string, args ...string) string {
	t.Helper()
	r := ctl(t, addr, args...)
	if r.code != 0 {
		t.Fatalf("brickctl %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// ctlJSON runs brickctl --json with args and decodes its output into v.
func ctlJSON(t *testing.T, addr string, v any, args ...string) {
	t.Helper()
	out := mustCtl(t, addr, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("brickctl --json %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// get runs brickctl get with args (flags and the block ID) into a file of
// its own and returns what it wrote.
func get(t *testing.T, addr string, args ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "get")
	mustCtl(t, addr, append(append([]string{"get"}, args...), path)...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type extent struct {
	First  string `json:"first"`
	Last   string `json:"last"`
	Blocks uint64 `json:"blocks"`
	State  string `json:"state"`
}

func listJSON(t *testing.T, addr string, args ...string) []extent {
	t.Helper()
	var es []extent
	ctlJSON(t, addr, &es, append([]string{"list"}, args...)...)
	return es
}

// holdMap runs `brickctl map --hold` in the background until the returned
// function is called; it returns once the map is in place.
func holdMap(t *testing.T, addr string, args ...string) (release func()) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "brickctl"), append([]string{"--addr", addr, "map", "--hold"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "mapped ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("map --hold: %q %v %s", line, err, errb.String())
	}
	go io.Copy(io.Discard, stdout)
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("map --hold exited: %v %s", err, errb.String())
		}
	}
}
