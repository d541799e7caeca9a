package crc32c

import (
	"fmt"
	"strings"
	"testing"
)

// TestFoldConsts checks the table the assembly reads against the generator;
// on a mismatch it prints the table to paste.
func TestFoldConsts(t *testing.T) {
	want := genConsts(polyCastagnoli)
	if fmt.Sprint(want) == fmt.Sprint(foldConsts[:]) {
		return
	}
	var b strings.Builder
	for i := 0; i < len(want); i += 2 {
		fmt.Fprintf(&b, "\t%#09x, %#09x,\n", want[i], want[i+1])
	}
	t.Errorf("foldConsts differ from the generator; want\n%s", b.String())
}
