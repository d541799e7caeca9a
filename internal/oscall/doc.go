// Package oscall holds the operating-system calls brick makes outside
// pmem, persist and verbs: reserving file space, a shared file lock,
// recognising errno values, and the signals the commands stop and reload
// on. The rule is that syscall, golang.org/x/sys/unix and cgo appear only
// in pmem, persist, verbs and here (internal/archtest checks it), so that
// every call into the kernel sits behind one documented function.
package oscall
