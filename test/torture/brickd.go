package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/brick-storage/brick/internal/brickdproc"
)

// brickd is a brickd process on the file backend, rooted at a directory.
type brickd struct {
	*brickdproc.Proc
}

// grace bounds brickd's start and its exit after a signal.
const grace = 2 * time.Minute

// startBrickd starts brickd on dir's pmem image and metadata, appending its
// log to dir/brickd.log, and returns once it listens.
func startBrickd(path, dir string) (*brickd, error) {
	logf, err := os.OpenFile(filepath.Join(dir, "brickd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p, err := brickdproc.Start(path, brickdproc.Args(dir, "256MiB"), logf, grace)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w; its log is %s", err, logf.Name())
	}
	go func() {
		<-p.Exited
		logf.Close()
	}()
	return &brickd{p}, nil
}

// stop signals brickd and waits for it to exit; the exit of a SIGKILL is
// no error.
func (d *brickd) stop(sig syscall.Signal) error {
	err := d.Stop(sig, grace)
	if sig == syscall.SIGKILL && !errors.Is(err, brickdproc.ErrNoExit) {
		return nil
	}
	return err
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
	if err := brickdproc.Build(dir, nil, "github.com/brick-storage/brick/cmd/brickd"); err != nil {
		return "", fmt.Errorf("brickd is not on PATH and building it failed (run from the brick module, or give --brickd): %w", err)
	}
	return filepath.Join(dir, "brickd"), nil
}
