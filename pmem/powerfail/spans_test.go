package powerfail

import (
	"math/rand/v2"
	"testing"
)

// TestSpanSetAgainstArray checks the interval set against one tag per byte.
func TestSpanSetAgainstArray(t *testing.T) {
	const n = 512
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var m spanSet
		ref := make([]int, n) // -1: no span, else tag
		for i := range ref {
			ref[i] = -1
		}
		for step := range 300 {
			a := rng.IntN(n)
			b := a + rng.IntN(n-a+1)
			tag := uint32(rng.IntN(4))
			switch rng.IntN(3) {
			case 0:
				m.assign(int64(a), int64(b), tag)
				for i := a; i < b; i++ {
					ref[i] = int(tag)
				}
			case 1: // drop pieces with the tag
				m.transform(int64(a), int64(b), func(t uint32) bool { return t == tag }, func(int64, int64, uint32) (uint32, bool) { return 0, false })
				for i := a; i < b; i++ {
					if ref[i] == int(tag) {
						ref[i] = -1
					}
				}
			case 2: // retag pieces with the tag
				to := uint32(rng.IntN(4))
				m.transform(int64(a), int64(b), func(t uint32) bool { return t == tag }, func(int64, int64, uint32) (uint32, bool) { return to, true })
				for i := a; i < b; i++ {
					if ref[i] == int(tag) {
						ref[i] = int(to)
					}
				}
			}
			for i := range ref {
				tag, ok := m.at(int64(i))
				got := -1
				if ok {
					got = int(tag)
				}
				if got != ref[i] {
					t.Fatalf("seed %d step %d: byte %d has %d, want %d (spans %v)", seed, step, i, got, ref[i], m.s)
				}
			}
			for j := 1; j < len(m.s); j++ {
				if m.s[j-1].end > m.s[j].start || m.s[j-1].end == m.s[j].start && m.s[j-1].tag == m.s[j].tag {
					t.Fatalf("seed %d step %d: spans not sorted and merged: %v", seed, step, m.s)
				}
			}
			for _, sp := range m.s {
				if sp.start >= sp.end {
					t.Fatalf("empty span %v", sp)
				}
			}
		}
	}
}
