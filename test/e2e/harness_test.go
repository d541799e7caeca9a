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

type extent struct {
	First  string `json:"first"`
	Last   string `json:"last"`
	Blocks uint64 `json:"blocks"`
	State  string `json:"state"`
}

func listJSON(t *testing.T, addr string, args ...string) []extent {
	t.Helper()
	out := mustCtl(t, addr, append([]string{"--json", "list"}, args...)...)
	var es []extent
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
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
