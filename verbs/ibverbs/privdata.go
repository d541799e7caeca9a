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

// encodePrivateData frames data for a CM message whose private data field
// holds max+1 bytes.
func encodePrivateData(what string, data []byte, max int) ([]byte, error) {
	if len(data) > max {
		return nil, fmt.Errorf("%w: %d bytes of %s private data; rdma_cm carries at most %d", verbs.ErrInvalid, len(data), what, max)
	}
	b := make([]byte, 1+len(data))
	b[0] = byte(len(data))
	copy(b[1:], data)
	return b, nil
}

// decodePrivateData undoes encodePrivateData on what the CM delivered,
// which may be padded. Empty input (a peer that sent nothing) is empty data.
func decodePrivateData(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
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
