//go:build ibverbs

package ibverbs

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/brick-storage/brick/verbs"
)

// errNoDevice is returned, wrapped, by every entry point when libibverbs
// sees no RDMA device.
var errNoDevice error = &notSupportedError{"brick: no RDMA device found (ibv_get_device_list returned none); use tcp:// for the software RNIC"}

// notSupportedError is a sentence that wraps verbs.ErrNotSupported without
// repeating the sentinel's text.
type notSupportedError struct{ msg string }

func (e *notSupportedError) Error() string { return e.msg }
func (e *notSupportedError) Unwrap() error { return verbs.ErrNotSupported }

func notSupported(format string, args ...any) error {
	return &notSupportedError{fmt.Sprintf(format, args...)}
}

// errno turns a negative errno from a C helper into an error.
func errno(rc int) error {
	if rc < 0 {
		rc = -rc
	}
	return syscall.Errno(rc)
}

// cmError describes a failed rdma_cm or verbs call as a sentence.
func cmError(what string, rc int) error {
	err := errno(rc)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		return notSupported("brick: rdma %s: %v", what, err)
	}
	return fmt.Errorf("brick: rdma %s: %w", what, err)
}
