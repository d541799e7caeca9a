// Package providers picks the verbs provider for a transport URL's scheme:
// tcp:// is the software RNIC, rdma:// the libibverbs provider (present only
// in builds with the ibverbs tag).
package providers

import (
	"fmt"

	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

// Options tune providers. The zero value is the default.
type Options struct {
	// RDMANetdev names the network interface whose RDMA device rdma://
	// uses (brickd --rdma-netdev); empty lets rdma_cm pick by address.
	RDMANetdev string
	// OptionalCRC: tcp:// does not ask for the MPA CRC
	// (soft.Options.OptionalCRC). rdma:// ignores it: there the kernel's
	// iWARP decides (Linux 6.1's siw never asks: its mpa_crc_required is
	// a constant false).
	OptionalCRC bool
}

// ForAddr returns the provider for url and its host:port.
func ForAddr(url string) (verbs.Provider, string, error) {
	return ForAddrWith(url, Options{})
}

// ForAddrWith is ForAddr with options.
func ForAddrWith(url string, opts Options) (verbs.Provider, string, error) {
	scheme, hostport, err := verbs.ParseAddr(url)
	if err != nil {
		return nil, "", err
	}
	switch scheme {
	case "tcp":
		return soft.NewWithOptions(soft.Options{OptionalCRC: opts.OptionalCRC}), hostport, nil
	case "rdma":
		p, err := rdmaProvider(opts)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", url, err)
		}
		return p, hostport, nil
	}
	return nil, "", fmt.Errorf("%w: transport %q", verbs.ErrNotSupported, scheme)
}
