package ibverbs

import (
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// Private data budgets. The CM fields are fixed-size on InfiniBand and
// RoCE (rdma_cm keeps 36 of the REQ's 92 bytes for its own header); one
// byte of each carries the length (see the package doc).
const (
	cmConnectField = 56
	cmAcceptField  = 196
	cmRejectField  = 148

	// MaxConnectData is the most private data Dial carries.
	MaxConnectData = cmConnectField - 1
	// MaxAcceptData is the most private data ConnRequest.Accept carries.
	MaxAcceptData = cmAcceptField - 1
	// MaxRejectData is the most private data ConnRequest.Reject carries.
	MaxRejectData = cmRejectField - 1
)

// framing is how a CM carries private data on one device.
type framing uint8

const (
	// padded: InfiniBand and RoCE deliver fixed-size CM fields padded
	// with zeros, so a one-byte length precedes the data.
	padded framing = iota
	// exact: iWARP delivers the MPA private data with its length, so the
	// data goes as it is. That is what the software RNIC (tcp://) and
	// every other iWARP stack send and expect.
	exact
)

// encodePrivateData frames data for a CM message whose private data field
// holds max+1 bytes. The caller's budget is the same whatever the framing,
// so a caller that fits one transport fits all.
func encodePrivateData(what string, data []byte, max int, f framing) ([]byte, error) {
	if len(data) > max {
		return nil, fmt.Errorf("%w: %d bytes of %s private data; rdma_cm carries at most %d", verbs.ErrInvalid, len(data), what, max)
	}
	if f == exact {
		return append([]byte(nil), data...), nil
	}
	b := make([]byte, 1+len(data))
	b[0] = byte(len(data))
	copy(b[1:], data)
	return b, nil
}

// decodePrivateData undoes encodePrivateData on what the CM delivered,
// which may be padded. Empty input (a peer that sent nothing) is empty data.
func decodePrivateData(b []byte, f framing) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if f == exact {
		return append([]byte(nil), b...), nil
	}
	n := int(b[0])
	if 1+n > len(b) {
		return nil, fmt.Errorf("%w: private data claims %d bytes but %d arrived", verbs.ErrInvalid, n, len(b)-1)
	}
	if n == 0 {
		return nil, nil
	}
	return append([]byte(nil), b[1:1+n]...), nil
}
