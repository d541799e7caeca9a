//go:build !ibverbs

package providers

import (
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

func rdmaProvider(Options) (verbs.Provider, error) {
	return nil, fmt.Errorf("%w: this binary was built without RDMA NIC support; rebuild with -tags ibverbs, or use tcp:// (the software RNIC)", verbs.ErrNotSupported)
}
