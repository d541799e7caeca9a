package soft

import (
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// Placeholders until memory windows, ATOMIC WRITE, FLUSH and hooks land.

// Caps reports no optional features yet.
func (q *QP) Caps() verbs.Caps { return verbs.Caps{} }

// BindMW is not supported yet.
func (q *QP) BindMW(verbs.MR, int, int, verbs.Access) (verbs.MW, error) {
	return nil, fmt.Errorf("%w: memory windows in the software RNIC", verbs.ErrNotSupported)
}

// RegisterWith registers without hooks for now.
func (p *pd) RegisterWith(buf []byte, access verbs.Access, _ verbs.RegisterOptions) (verbs.MR, error) {
	return p.Register(buf, access)
}
