package verbs

import (
	"errors"
	"fmt"
)

// Sentinel errors. Provider errors wrap one of these.
var (
	// ErrNotSupported: the capability or device is absent here.
	ErrNotSupported = errors.New("brick: not supported")
	// ErrClosed: the queue pair, listener or region is closed.
	ErrClosed = errors.New("brick: verbs object closed")
	// ErrQueueFull: more work requests than the queue depth.
	ErrQueueFull = errors.New("brick: work queue full")
	// ErrRejected: the passive side rejected the connection.
	ErrRejected = errors.New("brick: connection rejected")
	// ErrInvalid: a malformed work request or argument.
	ErrInvalid = errors.New("brick: invalid verbs argument")
	// ErrAddress: a transport address that is malformed (ParseAddr), or
	// that names a transport this process cannot dial or listen on.
	ErrAddress = errors.New("brick: unusable transport address")
	// ErrRemoteAccess: a remote access fault (bad rkey, range, right).
	ErrRemoteAccess = errors.New("brick: remote access error")
	// ErrFlushed: the request was flushed because the QP is in error.
	ErrFlushed = errors.New("brick: work request flushed")
	// ErrCompletion: any other unsuccessful completion.
	ErrCompletion = errors.New("brick: work request failed")
	// ErrProtocol: the peer broke the RDMA wire protocol (a bad CRC,
	// queue number, MSN, MO, opcode or length); the QP failed because of it.
	ErrProtocol = errors.New("brick: RDMA protocol violation by the peer")
	// ErrStalled: the peer stopped taking data while the QP held
	// registered memory for it; the QP failed so that the memory's locks
	// are released.
	ErrStalled = errors.New("brick: peer stalled")
)

// CompletionError is the error of an unsuccessful work completion.
type CompletionError struct {
	Op     Opcode
	Status Status
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("brick: rdma %s: %s", e.Op, e.Status)
}

// Is maps completion statuses to sentinels.
func (e *CompletionError) Is(target error) bool {
	switch target {
	case ErrRemoteAccess:
		return e.Status == StatusRemoteAccess
	case ErrFlushed:
		return e.Status == StatusFlushed
	case ErrCompletion:
		return true
	}
	return false
}

// RejectedError carries the private data the passive side returned with
// its rejection.
type RejectedError struct {
	PrivateData []byte
}

func (e *RejectedError) Error() string { return "brick: connection rejected by peer" }

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrRejected }
