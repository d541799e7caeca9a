package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// brickd is a brickd process on the file backend, rooted at a directory.
type brickd struct {
	cmd    *exec.Cmd
	addr   string        // tcp://127.0.0.1:PORT
	exited chan struct{} // closed when the process has exited
	err    error         // its exit, once exited is closed
}

var listenRE = regexp.MustCompile(`msg="brickd listening" listen=(\S+)`)

// startBrickd starts brickd on dir's pmem image and metadata, appending its
// log to dir/brickd.log, and returns once it listens.
func startBrickd(path, dir string) (*brickd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "brickd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "--pmem", filepath.Join(dir, "pmem.img"), "--pmem-size", "256MiB",
		"--meta", filepath.Join(dir, "meta"), "--listen", "tcp://127.0.0.1:0", "--metrics", "")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start brickd: %w", err)
	}
	d := &brickd{cmd: cmd, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
		io.Copy(logf, stderr)
		d.err = cmd.Wait()
		close(d.exited)
	}()
	select {
	case d.addr = <-addrc:
		return d, nil
	case <-d.exited:
		return nil, fmt.Errorf("brickd exited before it listened (%v); its log is %s", d.err, logf.Name())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-d.exited
		return nil, fmt.Errorf("brickd did not listen within 2 minutes; its log is %s", logf.Name())
	}
}

// stop signals brickd and waits for it to exit.
func (d *brickd) stop(sig syscall.Signal) error {
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-d.exited:
		if sig == syscall.SIGKILL {
			return nil
		}
		return d.err
	case <-time.After(2 * time.Minute):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("brickd did not exit within 2 minutes of %v", sig)
	}
}

// findBrickd is path if given, else brickd on PATH, else one built from this
// module into dir.
func findBrickd(path, dir string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p, err := exec.LookPath("brickd"); err == nil {
		return p, nil
	}
	out := filepath.Join(dir, "brickd")
	cmd := exec.Command("go", "build", "-tags", "pebblegozstd", "-o", out, "github.com/brick-storage/brick/cmd/brickd")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("brickd is not on PATH and building it failed (run from the brick module, or give --brickd): " + string(b))
	}
	return out, nil
}
