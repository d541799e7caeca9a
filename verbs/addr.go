package verbs

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseAddr splits a transport URL such as tcp://127.0.0.1:7470 or
// rdma://10.0.0.1:7470 into its scheme and host:port. A trailing slash is
// allowed; the port must be a number from 0 to 65535 (0: any, to listen).
func ParseAddr(url string) (scheme, hostport string, err error) {
	scheme, hostport, ok := strings.Cut(strings.TrimSuffix(url, "/"), "://")
	if !ok {
		return "", "", fmt.Errorf("%w: address %q has no scheme; want tcp://host:port or rdma://host:port", ErrAddress, url)
	}
	switch scheme {
	case "tcp", "rdma":
	default:
		return "", "", fmt.Errorf("%w: unknown transport %q in %q; want tcp:// (software RNIC) or rdma:// (RDMA NIC)", ErrAddress, scheme, url)
	}
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", "", fmt.Errorf("%w: address %q: %v", ErrAddress, url, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", fmt.Errorf("%w: address %q: the port must be a number from 0 to 65535", ErrAddress, url)
	}
	return scheme, hostport, nil
}
