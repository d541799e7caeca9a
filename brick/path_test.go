package brick

import (
	"testing"

	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// deviceQP is a queue pair that only describes its device.
type deviceQP struct {
	verbs.QP
	d verbs.DeviceInfo
}

func (q deviceQP) Device() verbs.DeviceInfo { return q.d }

// TestPathOf: persist gets the device facts the queue pair states.
func TestPathOf(t *testing.T) {
	for _, tc := range []struct {
		d    verbs.DeviceInfo
		want persist.Path
	}{
		{verbs.DeviceInfo{Name: "soft", Software: true}, persist.Path{Software: true, Device: "soft"}},
		{verbs.DeviceInfo{Name: "mlx5_0", PCI: "0000:3b:00.0"}, persist.Path{Device: "mlx5_0", PCI: "0000:3b:00.0"}},
		{verbs.DeviceInfo{}, persist.Path{}},
	} {
		if got := pathOf(deviceQP{d: tc.d}); got != tc.want {
			t.Errorf("pathOf(%+v) = %+v, want %+v", tc.d, got, tc.want)
		}
	}
}

// TestMapAccess: a key's rights follow its map, and only a read-only map
// that is not shared, which no read-write map may join, carries the
// AccessStable promise that lets a software RNIC skip its copy.
func TestMapAccess(t *testing.T) {
	ro, rw, sh := protocol.MapReadOnly, protocol.MapReadWrite, protocol.MapShared
	for _, tc := range []struct {
		flags  uint32
		method protocol.PersistMethod
		want   verbs.Access
	}{
		{ro, protocol.PersistGPSPM, verbs.AccessRemoteRead | verbs.AccessStable},
		{ro | sh, protocol.PersistGPSPM, verbs.AccessRemoteRead},
		{rw, protocol.PersistGPSPM, verbs.AccessRemoteRead | verbs.AccessRemoteWrite | verbs.AccessLocalWrite},
		{rw | sh, protocol.PersistFlush, verbs.AccessRemoteRead | verbs.AccessRemoteWrite | verbs.AccessLocalWrite | verbs.AccessFlushPersistent},
	} {
		m := &mapping{flags: tc.flags}
		if got := m.access(tc.method); got != tc.want {
			t.Errorf("map flags %#x, method %v: access %#x, want %#x", tc.flags, tc.method, got, tc.want)
		}
	}
}
