//go:build ibverbs

package ibverbs

import (
	"errors"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// TestFaultOf: a flushed completion is not a fault of its own (a close or
// a disconnect brings one), so it does not wrap ErrCompletion, which the
// brick logs as a transport error; a real failure does.
func TestFaultOf(t *testing.T) {
	c := &conn{remote: "peer"}
	for _, tc := range []struct {
		st                 verbs.Status
		completion, access bool
	}{
		{verbs.StatusFlushed, false, false},
		{verbs.StatusRemoteAccess, true, true},
		{verbs.StatusTransport, true, false},
	} {
		err := faultOf(c, verbs.WC{Op: verbs.OpWrite, Status: tc.st})
		if got := errors.Is(err, verbs.ErrCompletion); got != tc.completion {
			t.Errorf("%v: Is(ErrCompletion) = %v", tc.st, got)
		}
		if got := errors.Is(err, verbs.ErrRemoteAccess); got != tc.access {
			t.Errorf("%v: Is(ErrRemoteAccess) = %v", tc.st, got)
		}
	}
}

// TestErrFirstCause: Err is nil while the connection works and then the
// first recorded cause, whatever follows.
func TestErrFirstCause(t *testing.T) {
	c := &conn{remote: "peer", done: make(chan struct{})}
	if c.Err() != nil {
		t.Fatalf("Err of a working connection = %v", c.Err())
	}
	c.end(c.errClosed())
	c.end(faultOf(c, verbs.WC{Op: verbs.OpRead, Status: verbs.StatusRemoteAccess}))
	if !errors.Is(c.Err(), verbs.ErrClosed) || errors.Is(c.Err(), verbs.ErrRemoteAccess) {
		t.Fatalf("Err = %v, want the first cause (closed)", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("end did not mark the connection done")
	}
}
