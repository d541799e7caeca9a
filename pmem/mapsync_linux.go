//go:build linux && !mips && !mipsle && !mips64 && !mips64le

package pmem

import "golang.org/x/sys/unix"

// mapSync is MAP_SYNC; zero where x/sys does not define it.
const mapSync = unix.MAP_SYNC
