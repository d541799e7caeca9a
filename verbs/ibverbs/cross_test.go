//go:build ibverbs

package ibverbs

import (
	"os"
	"testing"

	"github.com/brick-storage/brick/verbs/soft"
	"github.com/brick-storage/brick/verbs/verbstest"
)

// TestCrossSoft runs the conformance suite between the software RNIC and
// this provider on an iWARP device (Linux siw in the kernel lab), both
// directions: BRICK_RDMA_CROSS_ADDR is host:port of a local address whose
// RDMA device speaks iWARP over TCP (port 0 picks one). Both ends run in
// this process; they meet only on the wire. The -nocrc subtests give the
// software RNIC soft.Options.OptionalCRC: against a siw that does not ask
// for the MPA CRC either (its default), the connection has none.
func TestCrossSoft(t *testing.T) {
	addr := addrOrSkip(t, "BRICK_RDMA_CROSS_ADDR", "an address on an iWARP device such as siw", "the software RNIC against it")
	nic := New(Options{Netdev: os.Getenv("BRICK_RDMA_NETDEV")})
	noCRC := soft.NewWithOptions(soft.Options{OptionalCRC: true})
	t.Run("soft-dials-nic", func(t *testing.T) { verbstest.RunCross(t, soft.New(), nic, addr) })
	t.Run("nic-dials-soft", func(t *testing.T) { verbstest.RunCross(t, nic, soft.New(), addr) })
	t.Run("soft-dials-nic-nocrc", func(t *testing.T) { verbstest.RunCross(t, noCRC, nic, addr) })
	t.Run("nic-dials-soft-nocrc", func(t *testing.T) { verbstest.RunCross(t, nic, noCRC, addr) })
}
