package protocol

import (
	"slices"
	"testing"
)

func TestCoalesce(t *testing.T) {
	const B = BlockSize
	res := func(first, blocks uint64) Extent { return Extent{First: first, Blocks: blocks, State: StateResident} }
	rw := func(first, blocks uint64) Extent { return Extent{First: first, Blocks: blocks, State: StateMappedRW} }
	for _, c := range []struct {
		name   string
		have   []Extent
		add    Extent
		max    int
		want   []Extent
		wantOK bool
	}{
		{"first", nil, res(0, 1), 1, []Extent{res(0, 1)}, true},
		{"continues", []Extent{res(0, 1)}, res(B, 1), 1, []Extent{res(0, 2)}, true},
		{"continues with a run", []Extent{res(0, 2)}, res(2*B, 3), 0, []Extent{res(0, 5)}, true},
		{"gap", []Extent{res(0, 1)}, res(2*B, 1), 0, []Extent{res(0, 1), res(2*B, 1)}, true},
		{"other state", []Extent{res(0, 1)}, rw(B, 1), 0, []Extent{res(0, 1), rw(B, 1)}, true},
		{"full", []Extent{res(0, 1)}, rw(B, 1), 1, []Extent{res(0, 1)}, false},
		{"full but continues", []Extent{res(0, 1)}, res(B, 1), 1, []Extent{res(0, 2)}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Coalesce(slices.Clone(c.have), c.add, c.max)
			if ok != c.wantOK || !slices.Equal(got, c.want) {
				t.Errorf("Coalesce(%v, %v, %d) = %v, %v; want %v, %v", c.have, c.add, c.max, got, ok, c.want, c.wantOK)
			}
		})
	}
}
