package main

import (
	"fmt"
	"strings"

	"github.com/brick-storage/brick/protocol"
)

// The persistence posture of a status reply, for `brickctl status`.

// postureJSON is the "persistence" object of status --json.
func postureJSON(st *protocol.StatusReply) map[string]any {
	devs := []map[string]any{}
	for _, d := range st.Devices {
		p := d.Platform
		devs = append(devs, map[string]any{
			"name": d.Name, "pci": d.PCI, "root_port": d.RootPort, "platform": p.String(),
			"ddio": d.State.String(), "why": d.Reason.Sentence(p),
		})
	}
	v := map[string]any{
		"domain":          st.Domain.String(),
		"platform_domain": st.PlatformDomain.String(),
		"ddio_policy":     st.DDIOPolicy.String(),
		"rdma_devices":    devs,
		"software_rnic":   nil,
	}
	if st.SoftwareRNIC {
		v["software_rnic"] = map[string]any{"ddio": st.SoftwareDDIO.String()}
	}
	return v
}

// postureText is the human form: a few aligned lines.
func postureText(b *strings.Builder, st *protocol.StatusReply) {
	fmt.Fprintf(b, "\ndomain     %s (platform reports %s)", st.Domain, st.PlatformDomain)
	fmt.Fprintf(b, "\nddio       policy %s", st.DDIOPolicy)
	if st.SoftwareRNIC {
		fmt.Fprintf(b, "\n           software RNIC (tcp://): %s", st.SoftwareDDIO)
	}
	for _, d := range st.Devices {
		p := d.Platform
		where := "no PCI function"
		if d.PCI != "" {
			where = d.PCI
			if d.RootPort != "" {
				where += " under root port " + d.RootPort
			}
		}
		fmt.Fprintf(b, "\n           %s (%s, %s): %s; %s", d.Name, where, p, d.State, d.Reason.Sentence(p))
	}
	if st.Methods.Has(protocol.PersistFlush) {
		b.WriteString("\nnote       flush is used by sessions whose RNIC offers RDMA FLUSH; the others get apm or gpspm")
	}
}
