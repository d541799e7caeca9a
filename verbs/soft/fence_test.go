package soft

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// orqTail is how many Reads and fences the QP has issued.
func orqTail(q *QP) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.orqTail
}

// Sends are fenced on demand: none goes out until the send CQ is found
// empty, then one confirms them all.
func TestLazySendFence(t *testing.T) {
	const nmsg = 4
	prepare := func(q verbs.QP) error {
		mr, _ := region(t, q.PD(), nmsg*64, verbs.AccessLocalWrite|verbs.AccessRemoteWrite)
		for i := range nmsg {
			if err := q.PostRecv(verbs.RecvWR{ID: uint64(i), Local: verbs.SGEOf(mr, i*64, 64)}); err != nil {
				return err
			}
		}
		return nil
	}
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, prepare)
	src, _ := region(t, p.c.PD(), 64, 0)
	start := orqTail(p.c)
	for i := range nmsg {
		mustPost(t, p.c, verbs.SendWR{ID: uint64(i), Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, 8)})
	}
	waitN(t, p.s.RecvCQ(), nmsg) // placed, and nothing asked for a fence
	if got := orqTail(p.c) - start; got != 0 {
		t.Fatalf("%d Reads issued behind %d Sends nobody polled for, want 0", got, nmsg)
	}
	wantStatuses(t, waitN(t, p.c.SendCQ(), nmsg), verbs.StatusSuccess, verbs.StatusSuccess, verbs.StatusSuccess, verbs.StatusSuccess)
	if got := orqTail(p.c) - start; got != 1 {
		t.Fatalf("%d fences confirmed %d Sends, want 1", got, nmsg)
	}

	// A Write gets its own fence.
	dst, _ := region(t, p.s.PD(), 64, rw)
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 8), RKey: dst.RKey(), Remote: dst.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 1), verbs.StatusSuccess)
	if got := orqTail(p.c) - start; got != 2 {
		t.Fatalf("%d fences after %d Sends and a Write, want 2", got, nmsg)
	}
}
