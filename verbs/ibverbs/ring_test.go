//go:build ibverbs

package ibverbs

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// iWARP devices complete out of post order (siw: a Write once sent, a Read
// posted before it when its Response arrives). Every completion must
// still reach the caller exactly once.
func TestRingOutOfOrder(t *testing.T) {
	r := ring{slots: make([]slot, 4), userMax: 4}
	read := r.push(slot{id: 10, op: verbs.OpRead})
	write := r.push(slot{id: 11, op: verbs.OpWrite})
	bind := r.push(slot{internal: true})
	if s, ok := r.complete(write); !ok || s.id != 11 {
		t.Fatalf("write: %+v %v", s, ok)
	}
	if r.tail != read || r.outstanding() != 2 {
		t.Fatalf("tail %d outstanding %d: a later completion freed an earlier slot", r.tail, r.outstanding())
	}
	if s, ok := r.complete(read); !ok || s.id != 10 {
		t.Fatalf("read completed after the write: %+v %v", s, ok)
	}
	if _, ok := r.complete(write); ok {
		t.Fatal("a completion reported twice")
	}
	r.push(slot{id: 12, op: verbs.OpSend})
	got := r.flushAll()
	if len(got) != 1 || got[0].id != 12 || r.outstanding() != 0 || r.tail != r.head {
		t.Fatalf("flushAll %+v, outstanding %d (bind %d internal, not reported)", got, r.outstanding(), bind)
	}
}
