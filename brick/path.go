package brick

import (
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/verbs"
)

// pathOf is what persist needs to know about the device serving qp: the
// queue pair describes itself, so policy never depends on provider types.
// A provider that names no device gets an unknown path, which never gets
// APM under --ddio verify.
func pathOf(qp verbs.QP) persist.Path {
	d := qp.Device()
	return persist.Path{Software: d.Software, Device: d.Name, PCI: d.PCI}
}
