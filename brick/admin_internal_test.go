package brick

import (
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// TestSessionListPaging: following the reply's cursor visits every
// session and every map exactly once and in order, also when one
// session's maps need several replies and when Max bounds the records.
func TestSessionListPaging(t *testing.T) {
	tests := []struct {
		name     string
		sessions int
		maps     func(i int) int // maps held by the i-th session
		max      int
	}{
		{"few", 3, func(i int) int { return i }, 0},
		{"max one", 5, func(i int) int { return 2 }, 1},
		{"more sessions than a reply", 3*protocol.MaxSessionsPerReply + 1, func(int) int { return 0 }, 0},
		{"maps over several replies", 4, func(i int) int { return []int{1, 600, 0, 300}[i] }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			s.mu.sessions = map[uint64]*session{}
			want := map[uint64]int{}
			for i := range tc.sessions {
				ss := &session{id: uint64(10 + 2*i), peer: "10.0.0.1:1", started: time.Now(), maps: map[uint64]*mapping{}, admitted: true}
				for j := range tc.maps(i) {
					id := uint64(j+1) * alloc2m.BlockSize
					ss.maps[id] = &mapping{ss: ss, id: id, flags: protocol.MapReadWrite}
				}
				s.mu.sessions[ss.id] = ss
				want[ss.id] = len(ss.maps)
			}
			self := s.mu.sessions[10]
			got := map[uint64]int{}
			var session, block, lastSession, lastBlock uint64
			pages := 0
			for {
				r := s.SessionList(self, session, block, tc.max)
				pages++
				if tc.max > 0 && len(r.Sessions) > tc.max {
					t.Fatalf("%d records, max %d", len(r.Sessions), tc.max)
				}
				buf := make([]byte, protocol.MaxMessage)
				if _, err := protocol.Encode(buf, r.Type(), protocol.StatusOK, 1, r); err != nil {
					t.Fatalf("page %d does not encode: %v", pages, err)
				}
				for _, info := range r.Sessions {
					if info.Maps != uint32(want[info.ID]) {
						t.Fatalf("session %d: Maps %d, want %d", info.ID, info.Maps, want[info.ID])
					}
					if (info.Flags&protocol.SessionSelf != 0) != (info.ID == 10) || info.Flags&protocol.SessionReady == 0 || info.Peer != "10.0.0.1:1" {
						t.Fatalf("session %d: flags %#x peer %q", info.ID, info.Flags, info.Peer)
					}
					for _, h := range info.Held {
						if info.ID < lastSession || info.ID == lastSession && h.ID <= lastBlock {
							t.Fatalf("map %#x of session %d out of order", h.ID, info.ID)
						}
						if h.Flags != protocol.HeldRW {
							t.Fatalf("map flags %#x", h.Flags)
						}
						lastSession, lastBlock = info.ID, h.ID
					}
					if _, seen := got[info.ID]; !seen && info.ID < lastSession {
						t.Fatalf("session %d after %d", info.ID, lastSession)
					}
					got[info.ID] += len(info.Held)
					lastSession = info.ID
				}
				if !r.More {
					break
				}
				session, block = r.NextSession, r.NextBlock
			}
			if len(got) != len(want) {
				t.Fatalf("listed %d sessions, want %d", len(got), len(want))
			}
			for id, n := range want {
				if got[id] != n {
					t.Fatalf("session %d: listed %d maps, want %d", id, got[id], n)
				}
			}
			t.Logf("%d pages", pages)
		})
	}
}
