package oscall

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestErrno: each classifier knows its errno values, wrapped or bare, and
// no others.
func TestErrno(t *testing.T) {
	wrap := func(e syscall.Errno) error { return &fs.PathError{Op: "open", Path: "x", Err: e} }
	for _, tc := range []struct {
		err                     error
		noSpace, refused, locks bool
	}{
		{syscall.ENOSPC, true, false, false},
		{fmt.Errorf("ctx: %w", syscall.EDQUOT), true, false, false},
		{wrap(syscall.EROFS), false, true, false},
		{wrap(syscall.EPERM), false, true, false},
		{syscall.EACCES, false, true, true},
		{syscall.EAGAIN, false, false, true},
		{syscall.ENOENT, false, false, false},
		{nil, false, false, false},
	} {
		if got := NoSpace(tc.err); got != tc.noSpace {
			t.Errorf("NoSpace(%v) = %v", tc.err, got)
		}
		if got := WriteRefused(tc.err); got != tc.refused {
			t.Errorf("WriteRefused(%v) = %v", tc.err, got)
		}
		if got := LockConflict(tc.err); got != tc.locks {
			t.Errorf("LockConflict(%v) = %v", tc.err, got)
		}
	}
}

// TestPreallocate: the file is extended to the size asked for.
func TestPreallocate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fallocate is Linux's")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Preallocate(f, 1<<20); err != nil {
		t.Fatal(err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != 1<<20 {
		t.Fatalf("size after Preallocate: %v, %v", st.Size(), err)
	}
}

// TestReadLock: two shared locks on one file coexist.
func TestReadLock(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fcntl locks as Linux has them")
	}
	p := filepath.Join(t.TempDir(), "LOCK")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := ReadLock(f.Fd()); err != nil {
			t.Fatalf("ReadLock: %v", err)
		}
	}
}
