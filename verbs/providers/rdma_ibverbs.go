//go:build ibverbs

package providers

import (
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/ibverbs"
)

// rdmaProvider is the libibverbs provider. It probes for a device on first
// use, so a machine without one fails at Listen/Dial with a sentence.
func rdmaProvider(opts Options) (verbs.Provider, error) {
	return ibverbs.New(ibverbs.Options{Netdev: opts.RDMANetdev}), nil
}
