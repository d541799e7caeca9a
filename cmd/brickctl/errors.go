package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// Exit codes scripts can rely on (docs/operations.md lists them):
//
//	0        success
//	1        any other failure
//	2        the command line is wrong
//	3        the brick could not be reached
//	10+N     the brick answered with protocol status N (11 already
//	         allocated, 12 no space, 13 invalid, 14 not allocated, 15 busy,
//	         16 not mapped, …, 22 no such session)
//	4        a data-path (RDMA) failure, or the session ended under it
//	130      interrupted (Ctrl-C, SIGINT or SIGTERM) before the end: bench
//	         prints the cases that finished first
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitConnect = 3
	exitRDMA    = 4
	exitStatus  = 10
	exitSignal  = 130 // 128 + SIGINT, as a shell reports a command it interrupted
)

// interruptedError: the command was interrupted; it is already a sentence.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

// connectError is a failure to reach the brick.
type connectError struct {
	addr string
	err  error
}

func (e *connectError) Error() string { return fmt.Sprintf("connect to %s: %v", e.addr, e.err) }
func (e *connectError) Unwrap() error { return e.err }

// metaInUseError: list --meta found the metadata held by a running brickd.
type metaInUseError struct {
	dir string
	err error
}

func (e *metaInUseError) Error() string { return fmt.Sprintf("metadata %s in use: %v", e.dir, e.err) }
func (e *metaInUseError) Unwrap() error { return e.err }

// spanError names the blocks of a put or get span that are not allocated;
// it is already a sentence, and exits like ENOENT (14).
type spanError struct{ msg string }

func (e *spanError) Error() string { return e.msg }
func (e *spanError) Unwrap() error { return client.ErrNotFound }

// busyRangeError: free FIRST..LAST left mapped blocks allocated; it
// exits like EBUSY (15).
type busyRangeError struct{ n, first uint64 }

func (e *busyRangeError) Error() string {
	return fmt.Sprintf("%d mapped block(s) in the range were left allocated, the first %#x", e.n, e.first)
}
func (e *busyRangeError) Unwrap() error { return client.ErrBusy }

func exitCode(err error) int {
	var ue *usageError
	var ce *connectError
	var ie *interruptedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ie):
		return exitSignal
	case errors.As(err, &ce):
		return exitConnect
	case errors.Is(err, client.ErrTransfer), errors.Is(err, client.ErrClosed):
		return exitRDMA // the session ended under a transfer or a held map
	}
	if st := protocol.StatusOf(err); st != protocol.StatusInternal || errors.Is(err, client.ErrInternal) {
		return exitStatus + int(st)
	}
	if strings.Contains(err.Error(), "Required flag") || strings.Contains(err.Error(), "flag provided but not defined") {
		return exitUsage
	}
	return exitFailure
}

// sentence turns an error into something a person can act on.
func sentence(err error) string {
	var ue *usageError
	var ce *connectError
	var me *metaInUseError
	var se *spanError
	var be *busyRangeError
	var ie *interruptedError
	switch {
	case errors.As(err, &ie):
		return ie.msg + "."
	case errors.As(err, &ue):
		return ue.msg + "."
	case errors.As(err, &me):
		return "the metadata in " + me.dir + " is in use by a running brickd; stop brickd for the offline view, or drop --meta to ask it."
	case errors.As(err, &ce) && errors.Is(err, client.ErrBrickHasNoKey):
		return fmt.Sprintf("the brick at %s has no key, so brickctl, holding one, refused it (%v); start brickd with the same --auth-key, or unset --auth-key and BRICK_AUTH_KEY to use a brick without a key.", ce.addr, ce.err)
	case errors.As(err, &ce) && errors.Is(err, client.ErrPermission):
		return fmt.Sprintf("the brick at %s did not accept this session (%v); give the brick's key with --auth-key FILE or BRICK_AUTH_KEY.", ce.addr, ce.err)
	case errors.As(err, &ce) && errors.Is(err, client.ErrLimit):
		return fmt.Sprintf("the brick at %s refused a new session: a limit was reached (%v); end other sessions or raise brickd --max-sessions.", ce.addr, ce.err)
	case errors.As(err, &ce) && protocol.StatusOf(err) == protocol.StatusInternal:
		return fmt.Sprintf("cannot reach the brick at %s (%v); is brickd running there? Set --addr or BRICK_ADDR.", ce.addr, ce.err)
	case errors.Is(err, context.DeadlineExceeded):
		return "the brick did not answer in time (" + err.Error() + "); raise --timeout or check brickd."
	case errors.Is(err, client.ErrExist):
		return "that block is already allocated (" + err.Error() + ")."
	case errors.As(err, &se):
		return se.msg + "."
	case errors.As(err, &be):
		return be.Error() + ": a session maps them; brickctl sessions shows which, brickctl unmap ID revokes a map."
	case errors.Is(err, client.ErrNotFound):
		return "that block is not allocated (" + err.Error() + "); brickctl list shows the allocated blocks."
	case errors.Is(err, client.ErrInvalid):
		return "the brick refused an invalid argument (" + err.Error() + ")."
	case errors.Is(err, client.ErrNoSpace):
		return "the brick is full (" + err.Error() + "): free a block, or give brickd a larger --pmem-size or --tier."
	case errors.Is(err, client.ErrBusy):
		return "that block is busy (" + err.Error() + "): another session has it mapped; it must unmap first."
	case errors.Is(err, client.ErrNotMapped):
		return "that block is not mapped (" + err.Error() + "); brickctl sessions lists the maps sessions hold."
	case errors.Is(err, client.ErrNoSession):
		return "there is no such session (" + err.Error() + "); brickctl sessions lists them."
	case errors.Is(err, client.ErrLimit):
		return "the brick refused: a limit was reached (" + err.Error() + "); unmap or end sessions, or raise brickd's --max-maps-per-session / --max-sessions."
	case errors.Is(err, client.ErrPermission):
		return "the brick refused permission (" + err.Error() + "); give the brick's key with --auth-key FILE or BRICK_AUTH_KEY."
	case errors.Is(err, client.ErrVolatile):
		return "the brick runs on volatile memory; the data is there but will not survive a restart."
	case errors.Is(err, client.ErrRemoteAccess):
		return "the brick's RNIC refused the RDMA access (" + err.Error() + "): the handle was revoked or the range is outside the block."
	case errors.Is(err, client.ErrClosed):
		return "the session with the brick ended (" + err.Error() + "): brickd stopped or the connection broke, which revoked this session's maps; a transfer in progress may be incomplete."
	case errors.Is(err, client.ErrTransfer):
		return "an RDMA transfer failed (" + err.Error() + "): the session ended or the handle was revoked, so the data may be incomplete; run the command again."
	}
	return err.Error() + "."
}
