package verbs

import (
	"fmt"
	"net"
	"strings"
)

// ParseAddr splits a transport URL such as tcp://127.0.0.1:7470 or
// rdma://10.0.0.1:7470 into its scheme and host:port.
func ParseAddr(url string) (scheme, hostport string, err error) {
	scheme, hostport, ok := strings.Cut(url, "://")
	if !ok {
		return "", "", fmt.Errorf("%w: address %q has no scheme; want tcp://host:port or rdma://host:port", ErrInvalid, url)
	}
	switch scheme {
	case "tcp", "rdma":
	default:
		return "", "", fmt.Errorf("%w: unknown transport %q in %q; want tcp:// (software RNIC) or rdma:// (RDMA NIC)", ErrInvalid, scheme, url)
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return "", "", fmt.Errorf("%w: address %q: %v", ErrInvalid, url, err)
	}
	return scheme, hostport, nil
}
