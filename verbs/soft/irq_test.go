package soft

import "testing"

// TestGrowIRQ: the inbound Read queue grows from empty to maxIRD and keeps
// its entries in order wherever the ring had wrapped.
func TestGrowIRQ(t *testing.T) {
	tests := []struct {
		name       string
		head, n    uint64 // queue state before the last grow: first index, entries
		startSizes int    // grows before filling
	}{
		{"from empty", 0, 0, 0},
		{"full, not wrapped", 0, minIRD, 1},
		{"full, wrapped", 5, minIRD, 1},
		{"full after two grows, wrapped", 1000, 2 * minIRD, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &QP{}
			for range tt.startSizes {
				q.growIRQLocked()
			}
			q.irqHead, q.irqTail = tt.head, tt.head
			for i := range tt.n {
				q.irq[(tt.head+i)%uint64(len(q.irq))] = irqe{msn: uint32(i)}
				q.irqTail++
			}
			before := len(q.irq)
			q.growIRQLocked()
			if want := min(max(2*before, minIRD), maxIRD); len(q.irq) != want {
				t.Fatalf("grew from %d to %d entries, want %d", before, len(q.irq), want)
			}
			for i := range tt.n {
				if got := q.irq[(tt.head+i)%uint64(len(q.irq))].msn; got != uint32(i) {
					t.Fatalf("entry %d holds msn %d after growing, want %d", i, got, i)
				}
			}
		})
	}
	q := &QP{}
	for len(q.irq) < maxIRD {
		q.growIRQLocked()
	}
	q.growIRQLocked()
	if len(q.irq) != maxIRD {
		t.Fatalf("grew past maxIRD: %d entries", len(q.irq))
	}
}
