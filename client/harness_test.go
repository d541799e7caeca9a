package client_test

import (
	"context"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
)

// startBrick runs an in-process brick (anonymous memory, 8 frames) on
// loopback and returns its address and a context for the test.
func startBrick(t *testing.T) (string, context.Context) {
	t.Helper()
	b := bricktest.Start(t, bricktest.Options{Frames: 8})
	return b.Addr, b.Ctx
}

// dialBrick starts a brick as startBrick does and dials one session,
// closed at the test's end.
func dialBrick(t *testing.T) (*client.Client, context.Context) {
	t.Helper()
	addr, ctx := startBrick(t)
	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, ctx
}

// bothPaths runs test twice, each with a session of its own: once as
// the brick granted it, and once as if the brick had not offered feature
// (the older brick's path). i is 0, then 1.
func bothPaths(t *testing.T, ctx context.Context, addr string, feature uint64, older string, test func(t *testing.T, i int, c *client.Client)) {
	for i, name := range []string{"feature granted", older + ", older brick"} {
		t.Run(name, func(t *testing.T) {
			c, err := client.Dial(ctx, addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if i == 0 && client.Features(c)&feature == 0 {
				t.Fatalf("the brick did not grant feature %#x", feature)
			}
			if i == 1 {
				client.DropFeature(c, feature)
			}
			test(t, i, c)
		})
	}
}
