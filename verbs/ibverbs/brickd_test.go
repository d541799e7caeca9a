//go:build ibverbs

package ibverbs

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// brickd built with the ibverbs tag and started on rdma:// on a machine
// without an RDMA device prints the no-device sentence and exits non-zero.
func TestBrickdWithoutDevice(t *testing.T) {
	skipWithDevice(t)
	if testing.Short() {
		t.Skip("builds brickd")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "brickd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-tags", "ibverbs,pebblegozstd", "-o", bin, "github.com/brick-storage/brick/cmd/brickd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building brickd with -tags ibverbs: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin,
		"--listen", "rdma://127.0.0.1:7470",
		"--pmem-backend", "anonymous", "--pmem-size", "64MiB",
		"--meta", filepath.Join(dir, "meta"), "--metrics", "")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("brickd on rdma:// without a device: %v, want a non-zero exit\nstderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no RDMA device found") {
		t.Fatalf("brickd did not say there is no RDMA device:\n%s", stderr.String())
	}
}
