package oscall

import (
	"errors"
	"syscall"
)

// NoSpace reports whether err says the file system is full or the quota
// is spent (ENOSPC, EDQUOT).
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// WriteRefused reports whether err says a file may not be written: a
// read-only file system or missing permission (EROFS, EACCES, EPERM).
func WriteRefused(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

// LockConflict reports whether err is fcntl's answer when another holder
// has a conflicting lock (EAGAIN or EACCES, depending on the system).
func LockConflict(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)
}
