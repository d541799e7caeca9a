package brick

import (
	"testing"

	"github.com/brick-storage/brick/persist"
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
