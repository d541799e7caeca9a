// Package brickdproc runs the real brickd binary as a child process for
// the tests that drive it from outside (test/e2e, test/torture): it builds
// the binaries, starts brickd on a test brick, learns its address from its
// log, and stops it. Production code never imports it.
package brickdproc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// Build builds this module's commands pkgs (import paths) into dir with
// the tags the tests use and the extra go build flags (such as -race).
func Build(dir string, extra []string, pkgs ...string) error {
	args := append([]string{"build", "-tags", "pebblegozstd", "-o", dir + string(filepath.Separator)}, extra...)
	out, err := exec.Command("go", append(args, pkgs...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %v: %w\n%s", pkgs, err, out)
	}
	return nil
}

// Args are the flags of a test brick rooted at dir: a pmem image of
// pmemSize, its metadata, a free loopback port and no metrics listener.
func Args(dir, pmemSize string, extra ...string) []string {
	return append([]string{
		"--pmem", filepath.Join(dir, "pmem.img"), "--pmem-size", pmemSize,
		"--meta", filepath.Join(dir, "meta"),
		"--listen", "tcp://127.0.0.1:0", "--metrics", "",
	}, extra...)
}

// Proc is a running brickd.
type Proc struct {
	Cmd    *exec.Cmd
	Addr   string        // tcp://127.0.0.1:PORT
	Exited chan struct{} // closed when the process has exited
	Err    error         // its exit, once Exited is closed
}

var listenRE = regexp.MustCompile(`msg="brickd listening" listen=(\S+)`)

// Start runs the brickd at bin with args, writing each line of its log to
// log, and returns once it logs that it listens. It fails if brickd exits
// first, or does not listen within timeout (it is killed then).
func Start(bin string, args []string, log io.Writer, timeout time.Duration) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start brickd: %w", err)
	}
	p := &Proc{Cmd: cmd, Exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(log, stderr) // the rest of a line too long to scan
		p.Err = cmd.Wait()
		close(p.Exited)
	}()
	select {
	case p.Addr = <-addrc:
		return p, nil
	case <-p.Exited:
		return nil, fmt.Errorf("brickd exited before it listened: %v", p.Err)
	case <-time.After(timeout):
		p.Kill()
		return nil, fmt.Errorf("brickd did not listen within %v", timeout)
	}
}

// Stop sends sig and returns brickd's exit. A brickd still running after
// grace is killed, and Stop returns ErrNoExit.
func (p *Proc) Stop(sig os.Signal, grace time.Duration) error {
	if err := p.Cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-p.Exited:
		return p.Err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%w within %v of %v", ErrNoExit, grace, sig)
	}
}

// Kill ends brickd unless it has exited, and waits for it: the cleanup
// of a test that may have stopped it already.
func (p *Proc) Kill() {
	select {
	case <-p.Exited:
	default:
		p.Cmd.Process.Kill()
		<-p.Exited
	}
}
