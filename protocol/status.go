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

var statusErrs = [...]error{
	StatusExist:        ErrExist,
	StatusNoSpace:      ErrNoSpace,
	StatusInvalid:      ErrInvalid,
	StatusNotFound:     ErrNotFound,
	StatusBusy:         ErrBusy,
	StatusNotMapped:    ErrNotMapped,
	StatusProtocol:     ErrProtocol,
	StatusPermission:   ErrPermission,
	StatusInternal:     ErrInternal,
	StatusNotSupported: ErrNotSupported,
	StatusLimit:        ErrLimit,
	StatusNoSession:    ErrNoSession,
}

// Err returns the sentinel for s (nil for StatusOK).
func (s Status) Err() error {
	if s == StatusOK {
		return nil
	}
	if int(s) < len(statusErrs) && statusErrs[s] != nil {
		return statusErrs[s]
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
	for s, e := range statusErrs {
		if e != nil && errors.Is(err, e) {
			return Status(s)
		}
	}
	return StatusInternal
}

// Label is s as a short metric label value (errno-like).
func (s Status) Label() string { return enumName(statusLabels[:], s, "internal") }

var statusLabels = [...]string{
	StatusOK:           "ok",
	StatusExist:        "eexist",
	StatusNoSpace:      "enospc",
	StatusInvalid:      "einval",
	StatusNotFound:     "enoent",
	StatusBusy:         "ebusy",
	StatusNotMapped:    "enotmapped",
	StatusProtocol:     "eproto",
	StatusPermission:   "eperm",
	StatusInternal:     "internal",
	StatusNotSupported: "enotsup",
	StatusLimit:        "elimit",
	StatusNoSession:    "enosession",
}
