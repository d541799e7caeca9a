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
	addr := os.Getenv("BRICK_RDMA_TEST_ADDR")
	if addr == "" {
		t.Skip("set BRICK_RDMA_TEST_ADDR=host:port (an address on an RDMA NIC) to run the conformance suite on hardware")
	}
	verbstest.Run(t, New(Options{Netdev: os.Getenv("BRICK_RDMA_NETDEV")}), addr)
}
