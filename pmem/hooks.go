package pmem

import "fmt"

// DataPath has the method set of verbs.Hooks: what an RNIC does to
// registered memory. pmem does not import verbs; a DataPath can be passed
// as verbs.RegisterOptions.Hooks directly.
type DataPath interface {
	// Placed: inbound bytes were placed at [off, off+n) of the registered
	// buffer; they are in the NIC/PCIe path.
	Placed(off, n int)
	// ReadServed: the RNIC served an RDMA Read after every placement it
	// had made before.
	ReadServed()
	// Flush: an RDMA FLUSH for [off, off+n) must make those bytes
	// persistent before it completes.
	Flush(off, n int) error
}

// DataPathModel is implemented by regions that model what an RNIC does to
// their memory (the power-fail simulator in pmem/powerfail): HooksFor asks
// them for the hooks of a registration of b.
type DataPathModel interface {
	DataPath(b []byte) (DataPath, error)
}

// HooksFor returns the data-path hooks for b, a sub-slice of one of r's
// frames that is being registered with an RNIC; offsets passed to the hooks
// are relative to b. For a DataPathModel they drive its model; for
// every other backend Placed and ReadServed do nothing (real hardware does
// those in silicon) and Flush is r.Flush of the range, which is what makes
// an RDMA FLUSH on file-backed memory durable.
func HooksFor(r Region, b []byte) (DataPath, error) {
	if m, ok := r.(DataPathModel); ok {
		return m.DataPath(b)
	}
	return regionHooks{r: r, b: b}, nil
}

// regionHooks are the hooks of a real backend.
type regionHooks struct {
	r Region
	b []byte
}

func (h regionHooks) Placed(off, n int) {}
func (h regionHooks) ReadServed()       {}

func (h regionHooks) Flush(off, n int) error {
	if off < 0 || n < 0 || off+n > len(h.b) || off+n < off {
		return fmt.Errorf("pmem: FLUSH of [%d, %d) outside a %d-byte registration: %w", off, off+n, len(h.b), ErrRange)
	}
	return h.r.Flush(h.b[off : off+n])
}
