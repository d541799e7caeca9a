// Package verbstest is the conformance suite every verbs provider must
// pass: the software RNIC (verbs/soft) in every CI run, and the libibverbs
// provider on a machine with an RDMA NIC (BRICK_RDMA_TEST_ADDR).
//
// Why one suite: brick's correctness arguments (revocation on unmap, a
// Read after Writes proving placement, faults ending a session) rest on
// the contract written in package verbs. Each provider's own tests check
// its internals; this suite checks the contract, black-box, through the
// verbs interface only, so that what passes on the software RNIC means the
// same on a NIC.
//
// What it checks, each in its own subtest:
//
//   - Connect: private data both ways, rejection with private data, a
//     fresh PD per side, receives posted by Accept's prepare in place
//     before the peer's first Send.
//   - SendRecv: message sizes across segment boundaries, completions with
//     wr_id and byte counts, a receive too small for the message.
//   - WriteRead: 1 byte to 2 MiB at local and remote offsets; queue depths
//     1, 4 and 16 with the send queue kept full.
//   - Ordering: completions in post order with the caller's IDs, and a
//     Read posted after Writes sees them.
//   - Faults: bad rkey, range, access right, a key of another connection's
//     PD, a deregistered region: StatusRemoteAccess for the faulting
//     request, StatusFlushed for the later ones, both ends disconnected,
//     and PostSend failing with ErrClosed afterwards.
//   - Revocation: Deregister racing a storm of Writes; once it returns no
//     byte lands (a canary written after it survives).
//   - Optional features behind QP.Caps — memory windows and Send with
//     Invalidate, ATOMIC WRITE, FLUSH: skipped when the cap is absent, so
//     the suite tightens as features land.
//   - Leaks: every region deregisters cleanly after its QP closed (Close
//     does not deregister), a second Deregister fails with ErrClosed, and
//     no goroutine outlives the suite.
//
// Buffers come from verbs.AllocMemory: a hardware provider must not
// register the Go heap. That memory is also invisible to the race
// detector, which cannot see the ordering the wire provides between the
// target's placement and the initiator's completion.
//
// The suite is deterministic: it synchronises on completions, Done
// channels and polled conditions with deadlines, never on sleeps.
package verbstest

import (
	"testing"

	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/verbs"
)

// Run runs the suite against p, listening on addr (host:port; port 0 picks
// a free port where the provider supports it).
func Run(t *testing.T, p verbs.Provider, addr string) {
	RunCross(t, p, p, addr)
}

// RunCross runs the suite between two providers that speak the same wire:
// dial's queue pairs connect to listen's, listening on addr. It is how the
// software RNIC is proven against another iWARP stack (Linux siw through
// the ibverbs provider), in both directions. Optional features run only
// where both ends negotiated them.
func RunCross(t *testing.T, dial, listen verbs.Provider, addr string) {
	s := &suite{p: listen, dial: dial, addr: addr}
	leaked := leaktest.Goroutines(t)
	t.Run("Connect", s.testConnect)
	t.Run("Reject", s.testReject)
	t.Run("SendRecv", s.testSendRecv)
	t.Run("RecvTooSmall", s.testRecvTooSmall)
	t.Run("WriteRead", s.testWriteRead)
	t.Run("QueueDepth", s.testQueueDepth)
	t.Run("Ordering", s.testOrdering)
	t.Run("Faults", s.testFaults)
	t.Run("PostAfterClose", s.testPostAfterClose)
	t.Run("Revocation", s.testRevocation)
	t.Run("MemoryWindows", s.testMemoryWindows)
	t.Run("SendInvalidate", s.testSendInvalidate)
	t.Run("AtomicWrite", s.testAtomicWrite)
	t.Run("Flush", s.testFlush)
	// Every subtest has ended and run its cleanups: nothing of the
	// provider may still run.
	leaked()
}
