package brick_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/brick-storage/brick/protocol"
)

var errorsIs = errors.Is

// TestList: coalescing by ID and state, ranges, and pages.
func TestList(t *testing.T) {
	e := newEnv(t, envOpts{frames: 400})
	c := e.dial()
	for _, i := range []uint64{0, 1, 2, 4, 5, 9} {
		wantErr(t, "alloc", c.Alloc(e.ctx, i*block), nil)
	}
	if _, err := c.Map(e.ctx, 5*block, protocol.MapReadOnly); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		first, last uint64
		want        string
	}{
		{0, ^uint64(0), "[{0 3 resident} {8388608 1 resident} {10485760 1 mapped-ro} {18874368 1 resident}]"},
		{block, 4 * block, "[{2097152 2 resident} {8388608 1 resident}]"},
		{6 * block, 8 * block, "[]"},
	}
	for _, tc := range cases {
		es, err := c.List(e.ctx, tc.first, tc.last)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(es); got != tc.want && !(tc.want == "[]" && len(es) == 0) {
			t.Errorf("List(%#x, %#x) = %v, want %s", tc.first, tc.last, got, tc.want)
		}
	}

	// More isolated blocks than one reply holds: the client pages.
	for i := uint64(0); i < 2*protocol.MaxExtentsPerList+5; i++ {
		wantErr(t, "alloc", c.Alloc(e.ctx, (1000+2*i)*block), nil)
	}
	es, err := c.List(e.ctx, 1000*block, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2*protocol.MaxExtentsPerList+5 {
		t.Fatalf("paged list returned %d extents", len(es))
	}
	for i, x := range es {
		if x.First != (1000+2*uint64(i))*block || x.Blocks != 1 {
			t.Fatalf("extent %d = %+v", i, x)
		}
	}
	// The top of the ID space is a valid block.
	top := ^uint64(0) &^ (block - 1)
	wantErr(t, "alloc top", c.Alloc(e.ctx, top), nil)
	es, err = c.List(e.ctx, top, ^uint64(0))
	if err != nil || len(es) != 1 || es[0].First != top {
		t.Fatalf("list top: %v %v", es, err)
	}
}
