package crc32c

import (
	"fmt"
	"hash/crc32"
	"testing"
)

// impl is one way of checksumming a chunk.
type impl struct {
	name   string
	update func(uint32, []byte) uint32
}

var impls = []impl{
	{"stdlib", func(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }},
	{"crc32c", Update},
}

// BenchmarkUpdate checksums 64 KiB chunks taken in turn from a working set
// that fits in L2 (hot), in L3, or in neither (cold).
func BenchmarkUpdate(b *testing.B) { benchChunks(b, impls) }

// BenchmarkCopyUpdate stages 64 KiB chunks, as the software RNIC stages a
// Read Response: copied from the working set into one 64 KiB buffer and
// checksummed, by a copy then Update of the copy, or by CopyUpdate.
func BenchmarkCopyUpdate(b *testing.B) {
	stage := make([]byte, benchChunk)
	benchChunks(b, []impl{
		{"copy+Update", func(crc uint32, p []byte) uint32 { copy(stage, p); return Update(crc, stage) }},
		{"CopyUpdate", func(crc uint32, p []byte) uint32 { return CopyUpdate(crc, stage, p) }},
	})
}

const benchChunk = 64 << 10

// benchChunks runs each impl over benchChunk-byte chunks taken in turn
// from working sets that fit in L2 (hot), in L3, or in neither (cold).
func benchChunks(b *testing.B, ims []impl) {
	sets := []struct {
		name string
		size int
	}{{"hot", benchChunk}, {"L3-8MiB", 8 << 20}, {"cold-256MiB", 256 << 20}}
	for _, set := range sets {
		buf := make([]byte, set.size)
		for i := range buf {
			buf[i] = byte(i * 7)
		}
		for _, im := range ims {
			b.Run(set.name+"/"+im.name, func(b *testing.B) {
				b.SetBytes(benchChunk)
				var crc uint32
				off := 0
				for b.Loop() {
					crc = im.update(crc, buf[off:off+benchChunk])
					off = (off + benchChunk) % len(buf)
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
