package bricktest_test

import (
	"os"
	"testing"

	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/protocol"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// TestStart: each kind of brick serves a client; Stop ends the sessions'
// brick and may run again at cleanup; a restart on the same directory
// finds the block the first run allocated.
func TestStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    bricktest.Options
	}{
		{"anonymous", bricktest.Options{Frames: 2}},
		{"file with tier", bricktest.Options{Frames: 2, File: true, TierSlots: 2}},
		{"config", bricktest.Options{Config: brick.Config{MaxSessions: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bricktest.Start(t, tc.o)
			if (b.Tier != nil) != (tc.o.TierSlots > 0) {
				t.Errorf("tier %v with %d slots asked for", b.Tier, tc.o.TierSlots)
			}
			c := b.Dial(client.Options{})
			if err := c.Alloc(b.Ctx, 0); err != nil {
				t.Fatal(err)
			}
			b.WaitSessions(1)
			c.Close()
			b.WaitSessions(0)
			b.Stop()
		})
	}
	dir := t.TempDir()
	b := bricktest.Start(t, bricktest.Options{File: true, Dir: dir})
	if err := b.Dial(client.Options{}).Alloc(b.Ctx, protocol.BlockSize); err != nil {
		t.Fatal(err)
	}
	b.Stop()
	b = bricktest.Start(t, bricktest.Options{File: true, Dir: dir})
	ext, err := b.Dial(client.Options{}).List(b.Ctx, 0, ^uint64(0))
	if err != nil || len(ext) != 1 || ext[0].First != protocol.BlockSize {
		t.Fatalf("after a restart: %v, %v; want the one block allocated before", ext, err)
	}
}
