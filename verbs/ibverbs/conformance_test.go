//go:build ibverbs

package ibverbs

import (
	"os"
	"testing"

	"github.com/brick-storage/brick/verbs/verbstest"
)

// TestConformance runs the provider conformance suite on an RDMA NIC:
// BRICK_RDMA_TEST_ADDR is host:port of a local address on an RDMA-capable
// interface (port 0 picks one), BRICK_RDMA_NETDEV optionally the interface.
// Both ends of every connection run in this process.
func TestConformance(t *testing.T) {
	addr := addrOrSkip(t, "BRICK_RDMA_TEST_ADDR", "an address on an RDMA NIC", "the conformance suite on hardware")
	verbstest.Run(t, New(Options{Netdev: os.Getenv("BRICK_RDMA_NETDEV")}), addr)
}

// addrOrSkip is the host:port in the environment variable env, or skips t
// with how to run it: the device these tests need is not on every machine.
func addrOrSkip(t *testing.T, env, where, what string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		t.Skipf("set %s=host:port (%s) to run %s", env, where, what)
	}
	return addr
}

// skipWithDevice skips t on a machine that has an RDMA device: t checks
// what brick does without one.
func skipWithDevice(t *testing.T) {
	t.Helper()
	if probeDevices() == nil {
		t.Skip("this machine has an RDMA device")
	}
}
