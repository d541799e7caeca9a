// Package crc32c computes the CRC-32C (Castagnoli) that brick puts on
// everything it checksums: MPA's FPDUs, the brick protocol's frames, the
// image headers, and the check of Pebble's log. hash/crc32 is
// latency-bound on data that is not in cache, which is what a sender
// checksums; on CPUs with AVX-512 and VPCLMULQDQ large buffers are folded
// 256 bytes at a time instead, which keeps up with memory. Everything else
// is hash/crc32.
package crc32c

import "hash/crc32"

var table = crc32.MakeTable(crc32.Castagnoli)

// foldMin is the shortest buffer fold takes. Measured on Zen 4 with
// BenchmarkThreshold, folding is already faster at 256 bytes (18ns against
// 23ns hot), and twice as fast from 768.
const foldMin = 256

// Checksum returns the CRC-32C of p.
func Checksum(p []byte) uint32 { return Update(0, p) }

// Update returns the result of adding the bytes in p to crc, the same as
// crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), p).
func Update(crc uint32, p []byte) uint32 {
	if useFold && len(p) >= foldMin {
		n := len(p) &^ 15
		crc = ^fold(^crc, p[:n])
		p = p[n:]
	}
	return crc32.Update(crc, table, p)
}

// CopyUpdate copies src into dst, which must be at least as long and must
// not overlap it, and returns the result of adding the bytes copied to crc. The CRC is of the
// copy: should src change during the call, it still matches dst, which a
// copy followed by Update over src would not.
func CopyUpdate(crc uint32, dst, src []byte) uint32 {
	dst = dst[:len(src)]
	if useFold && len(src) >= foldMin {
		n := len(src) &^ 15
		crc = ^foldCopy(^crc, dst[:n], src[:n])
		dst, src = dst[n:], src[n:]
	}
	copy(dst, src)
	return crc32.Update(crc, table, dst)
}
