package persist

import "github.com/brick-storage/brick/protocol"

// Fill writes the posture into a status reply: the methods offered and
// every field after the UUID (at most protocol.MaxStatusDevices devices).
func (p *Posture) Fill(r *protocol.StatusReply) {
	r.Methods = p.Methods()
	r.Domain = p.Domain
	r.PlatformDomain = p.Platform
	r.DDIOPolicy = p.Policy
	r.SoftwareRNIC = p.SoftwareRNIC
	r.SoftwareDDIO = p.Software
	r.Devices = nil
	for _, d := range p.Devices[:min(len(p.Devices), protocol.MaxStatusDevices)] {
		r.Devices = append(r.Devices, protocol.DDIODevice{
			Name: d.Name, PCI: d.PCI, RootPort: d.RootPort,
			Platform: d.Platform, State: d.State, Reason: d.Reason,
		})
	}
}
