package soft

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// TestTermCulprit: a peer's access-fault Terminate that names no segment of
// ours is the oldest transmitted request that can fault at the target, not
// an older Send still waiting for its lazy completion fence (the soft
// client against a Linux siw brick read a bad rkey as "flushed").
func TestTermCulprit(t *testing.T) {
	noSegment := &termMsg{layer: layerRDMAP, etype: etypeRemoteProtection, code: codeInvalidSTag}
	for _, tc := range []struct {
		name string
		ops  []verbs.Opcode
		st   verbs.Status
		want uint64
	}{
		{"send then read", []verbs.Opcode{verbs.OpSend, verbs.OpSend, verbs.OpRead}, verbs.StatusRemoteAccess, 2},
		{"read first", []verbs.Opcode{verbs.OpRead, verbs.OpSend}, verbs.StatusRemoteAccess, 0},
		{"sends only", []verbs.Opcode{verbs.OpSend, verbs.OpSend}, verbs.StatusRemoteAccess, 0},
		{"not an access fault", []verbs.Opcode{verbs.OpSend, verbs.OpRead}, verbs.StatusRemoteOp, 0},
	} {
		q := &QP{sq: make([]sqe, 8)}
		for i, op := range tc.ops {
			q.sq[i].wr.Op = op
		}
		q.sqTx, q.sqTail = uint64(len(tc.ops)), uint64(len(tc.ops))
		if got := q.termCulpritLocked(noSegment, tc.st); got != tc.want {
			t.Errorf("%s: culprit %d, want %d", tc.name, got, tc.want)
		}
	}
}
