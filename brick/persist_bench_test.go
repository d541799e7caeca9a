package brick_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
)

// BenchmarkPersist measures persist latency on the file backend over the
// software RNIC, at 4 KiB and 2 MiB: a plain RDMA Write (the baseline),
// the Write followed by a GPSPM persist (a round trip to the brick,
// which msyncs the range), and the Write followed by a FLUSH (the software
// RNIC's FLUSH, which msyncs through the region's hook). Every iteration
// writes first, so each msync has dirty pages to write back.
//
//	go test -tags pebblegozstd -run '^$' -bench Persist ./brick/
func BenchmarkPersist(b *testing.B) {
	for _, size := range []int{4 << 10, 2 << 20} {
		for _, mode := range []struct {
			name     string
			features uint64
			method   protocol.PersistMethod
			persist  bool
		}{
			{"write", protocol.FeatureGPSPM, protocol.PersistGPSPM, false},
			{"write+gpspm", protocol.FeatureGPSPM, protocol.PersistGPSPM, true},
			{"write+flush", protocol.FeatureFlush, protocol.PersistFlush, true},
		} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode.name, size>>10), func(b *testing.B) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				dir := b.TempDir()
				region, err := pmem.OpenFile(filepath.Join(dir, "pmem.img"), pmem.FileOptions{Size: 2 * pmem.FrameSize})
				if err != nil {
					b.Fatal(err)
				}
				br := startBrick(b, dir, region, protocol.DDIOPolicyVerify)
				defer br.Stop()
				c, err := client.Dial(ctx, br.Addr, client.Options{PersistFeatures: mode.features})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if err := c.Alloc(ctx, 0); err != nil {
					b.Fatal(err)
				}
				h, err := c.Map(ctx, 0, protocol.MapReadWrite)
				if err != nil {
					b.Fatal(err)
				}
				if h.Method != mode.method {
					b.Fatalf("method %v, want %v", h.Method, mode.method)
				}
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					p[0] = byte(i)
					off := int64(i*size) % block
					if _, err := h.WriteAt(p, off); err != nil {
						b.Fatal(err)
					}
					if mode.persist {
						if err := h.Persist(ctx, off, int64(size)); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
