package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/internal/size"
	"github.com/brick-storage/brick/protocol"
)

// referenceExtents is the output writeExtents must reproduce: a tabwriter
// table, or the JSON encoder's indented array.
func referenceExtents(extents []protocol.Extent, asJSON bool) string {
	type extentJSON struct {
		First  string `json:"first"`
		Last   string `json:"last"`
		Blocks uint64 `json:"blocks"`
		Bytes  uint64 `json:"bytes"`
		State  string `json:"state"`
	}
	js := make([]extentJSON, 0, len(extents))
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIRST\tLAST\tBLOCKS\tSIZE\tSTATE")
	var total uint64
	for _, e := range extents {
		lastID := e.First + (e.Blocks-1)*protocol.BlockSize
		js = append(js, extentJSON{First: fmt.Sprintf("%#x", e.First), Last: fmt.Sprintf("%#x", lastID), Blocks: e.Blocks, Bytes: e.Blocks * protocol.BlockSize, State: e.State.String()})
		fmt.Fprintf(tw, "%#x\t%#x\t%d\t%s\t%s\n", e.First, lastID, e.Blocks, referenceBytes(e.Blocks*protocol.BlockSize), e.State)
		total += e.Blocks
	}
	tw.Flush()
	if asJSON {
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(js)
		return out.String()
	}
	if len(extents) == 0 {
		return "no blocks allocated\n"
	}
	return strings.TrimRight(b.String(), "\n") + fmt.Sprintf("\n%d extent(s), %d block(s)\n", len(extents), total)
}

func referenceBytes(n uint64) string { return size.Format(int64(n)) }

func TestWriteExtents(t *testing.T) {
	const bs = protocol.BlockSize
	alternate := make([]protocol.Extent, 1000)
	for i := range alternate {
		alternate[i] = protocol.Extent{First: uint64(2*i) * bs, Blocks: 1, State: protocol.ExtentState(1 + i%5)}
	}
	tests := []struct {
		name    string
		extents []protocol.Extent
	}{
		{"none", nil},
		{"one block at zero", []protocol.Extent{{First: 0, Blocks: 1, State: protocol.StateResident}}},
		{"mixed widths and states", []protocol.Extent{
			{First: 0, Blocks: 1_000_000, State: protocol.StateResident},
			{First: 0x7fff_0000_0000_0000, Blocks: 3, State: protocol.StateMappedRW},
			{First: alloc2m.MaxID, Blocks: 1, State: protocol.StateUnclean},
			{First: 512 * bs, Blocks: 512, State: protocol.StateTiered},
			{First: 1 << 40, Blocks: 1 << 29, State: protocol.StateMappedRO},
		}},
		{"alternate", alternate},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s json=%v", tt.name, asJSON), func(t *testing.T) {
				var got bytes.Buffer
				w := bufio.NewWriter(&got)
				writeExtents(w, tt.extents, asJSON)
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if want := referenceExtents(tt.extents, asJSON); got.String() != want {
					t.Fatalf("got:\n%s\nwant:\n%s", got.String(), want)
				}
			})
		}
	}
}
