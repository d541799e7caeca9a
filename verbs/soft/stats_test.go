package soft

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// TestStatsCount: a Write and a Read of n bytes move the process-wide
// counters by at least n each (other tests may run alongside).
func TestStatsCount(t *testing.T) {
	const n = 3<<16 + 5 // several FPDUs
	p := newPair(t, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	tgt, _ := region(t, p.s.PD(), n, rw)
	src, _ := region(t, p.c.PD(), n, 0)
	sink, _ := region(t, p.c.PD(), n, verbs.AccessLocalWrite)
	w0, r0 := WriteBytesPlaced.Load(), ReadBytesServed.Load()
	mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()})
	mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(sink, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()})
	wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
	if d := WriteBytesPlaced.Load() - w0; d < n {
		t.Errorf("WriteBytesPlaced grew by %d, want ≥ %d", d, n)
	}
	if d := ReadBytesServed.Load() - r0; d < n {
		t.Errorf("ReadBytesServed grew by %d, want ≥ %d", d, n)
	}
}

// TestCounterSource: the software RNIC publishes its counters through the
// verbs registry under "soft", which brickd's metrics read by name.
func TestCounterSource(t *testing.T) {
	var src *verbs.CounterSource
	for _, s := range verbs.CounterSources() {
		if s.Name == "soft" {
			src = &s
		}
	}
	if src == nil {
		t.Fatal("the software RNIC registered no counter source")
	}
	w0 := WriteBytesPlaced.Load()
	WriteBytesPlaced.Add(7)
	if got := src.Read().WriteBytesPlaced; got < w0+7 {
		t.Errorf("WriteBytesPlaced through the registry = %d, want ≥ %d", got, w0+7)
	}
}
