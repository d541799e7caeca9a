package crc32c

import (
	"fmt"
	"hash/crc32"
	"testing"
)

var impls = []struct {
	name   string
	update func(uint32, []byte) uint32
}{
	{"stdlib", func(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }},
	{"crc32c", Update},
}

// BenchmarkUpdate checksums 64 KiB chunks taken in turn from a working set
// that fits in L2 (hot), in L3, or in neither (cold).
func BenchmarkUpdate(b *testing.B) {
	const chunk = 64 << 10
	sets := []struct {
		name string
		size int
	}{{"hot", chunk}, {"L3-8MiB", 8 << 20}, {"cold-256MiB", 256 << 20}}
	for _, set := range sets {
		buf := make([]byte, set.size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for _, im := range impls {
			b.Run(set.name+"/"+im.name, func(b *testing.B) {
				b.SetBytes(chunk)
				var crc uint32
				off := 0
				for b.Loop() {
					crc = im.update(crc, buf[off:off+chunk])
					off = (off + chunk) % len(buf)
				}
			})
		}
	}
}

// BenchmarkCopyUpdate stages 64 KiB chunks, as the software RNIC stages a
// Read Response: copied from the working set into one 64 KiB buffer and
// checksummed, by a copy then Update of the copy, or by CopyUpdate.
func BenchmarkCopyUpdate(b *testing.B) {
	const chunk = 64 << 10
	stage := make([]byte, chunk)
	ways := []struct {
		name string
		do   func(uint32, []byte) uint32
	}{
		{"copy+Update", func(crc uint32, p []byte) uint32 { copy(stage, p); return Update(crc, stage) }},
		{"CopyUpdate", func(crc uint32, p []byte) uint32 { return CopyUpdate(crc, stage, p) }},
	}
	for _, size := range []int{chunk, 8 << 20, 256 << 20} {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for _, w := range ways {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, w.name), func(b *testing.B) {
				b.SetBytes(chunk)
				var crc uint32
				off := 0
				for b.Loop() {
					crc = w.do(crc, buf[off:off+chunk])
					off = (off + chunk) % len(buf)
				}
			})
		}
	}
}

// BenchmarkThreshold compares at the sizes where folding starts to pay.
func BenchmarkThreshold(b *testing.B) {
	buf := randBytes(4096, 7)
	for _, n := range []int{256, 512, 768, 1024, 1536, 2048, 4096} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("%d/%s", n, im.name), func(b *testing.B) {
				b.SetBytes(int64(n))
				var crc uint32
				for b.Loop() {
					crc = im.update(crc, buf[:n])
				}
			})
		}
	}
}
