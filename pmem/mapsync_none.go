//go:build linux && (mips || mipsle || mips64 || mips64le)

package pmem

// mapSync: x/sys has no MAP_SYNC for MIPS; fsdax is refused there.
const mapSync = 0
