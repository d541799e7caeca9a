package protocol

import (
	"errors"
	"fmt"
)

// Status is a numbered result code in a reply header (and a hello reply).
type Status uint16

// Status codes. The numbers are part of the wire protocol: never renumber.
const (
	StatusOK           Status = 0
	StatusExist        Status = 1  // EEXIST: already allocated
	StatusNoSpace      Status = 2  // ENOSPC: no pmem (or tier) space
	StatusInvalid      Status = 3  // EINVAL: unaligned ID, bad flags, bad range
	StatusNotFound     Status = 4  // ENOENT: not allocated
	StatusBusy         Status = 5  // EBUSY: mapped, or conflicting map
	StatusNotMapped    Status = 6  // EINVAL: not mapped by this session (a revoke: by the sessions named)
	StatusProtocol     Status = 7  // malformed request
	StatusPermission   Status = 8  // authentication or access right
	StatusInternal     Status = 9  // the brick failed (I/O, metadata)
	StatusNotSupported Status = 10 // verb, flag or version not offered
	StatusLimit        Status = 11 // a session, map or queue limit
	StatusNoSession    Status = 12 // no session with that ID (admin verbs)

	// StatusMax is the highest status defined: a loop over every status
	// (metrics created at zero, tests) ends here.
	StatusMax = StatusNoSession
)

// statuses holds each code's sentinel and metric label, filed by
// statusErr as package errors.go initialises its sentinels. StatusOK has
// neither; a code no sentinel names is unknown.
var statuses [StatusMax + 1]struct {
	err   error
	label string
}

// statusErr makes the sentinel for status s and files it, with the
// label, under s.
func statusErr(s Status, label, msg string) error {
	err := errors.New("brick: " + msg)
	statuses[s].err, statuses[s].label = err, label
	return err
}

// Err returns the sentinel for s (nil for StatusOK).
func (s Status) Err() error {
	if s == StatusOK {
		return nil
	}
	if int(s) < len(statuses) && statuses[s].err != nil {
		return statuses[s].err
	}
	return fmt.Errorf("%w: unknown status %d", ErrProtocol, uint16(s))
}

func (s Status) String() string {
	if s == StatusOK {
		return "ok"
	}
	return s.Err().Error()
}

// StatusOf maps an error to its status code: the first sentinel it wraps,
// StatusInternal for anything else.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	for s, st := range statuses {
		if st.err != nil && errors.Is(err, st.err) {
			return Status(s)
		}
	}
	return StatusInternal
}

// Label is s as a short metric label value (errno-like): "ok", the
// label statusErr filed, or "internal" for a code no sentinel names.
func (s Status) Label() string {
	switch {
	case s == StatusOK:
		return "ok"
	case int(s) < len(statuses) && statuses[s].err != nil:
		return statuses[s].label
	}
	return "internal"
}
