package alloc2m

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestMetrics: Pebble's metrics see the synced commits, and a closed store
// returns nil rather than touching a closed DB.
func TestMetrics(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 8)
	mustAlloc(t, s, id(1), id(2))
	m := s.Metrics()
	if m == nil {
		t.Fatal("Metrics() = nil on an open store")
	}
	if m.WAL.BytesWritten == 0 {
		t.Errorf("WAL.BytesWritten = 0 after two synced allocs")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Metrics() != nil {
		t.Error("Metrics() on a closed store is not nil")
	}
}
