package persist

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these with
// the device, file or option concerned; test with errors.Is.
var (
	// ErrPolicy: a DDIO policy name that is not verify, disable,
	// assume-off or off.
	ErrPolicy = errors.New("brick: unknown DDIO policy")
	// ErrRefused: the configuration would claim a persistence the brick
	// cannot give; brickd refuses to start with it.
	ErrRefused = errors.New("brick: persistence configuration refused")
	// ErrPermission: PCI configuration space past the first 64 bytes is
	// readable (and writable) only with CAP_SYS_ADMIN.
	ErrPermission = errors.New("brick: PCI configuration space is not accessible (needs root)")
	// ErrNotSupported: the platform has no per-root-port DDIO control.
	ErrNotSupported = errors.New("brick: per-port DDIO control not supported on this platform")
)
