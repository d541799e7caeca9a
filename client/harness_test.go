package client_test

import (
	"context"
	"testing"

	"github.com/brick-storage/brick/internal/bricktest"
)

// startBrick runs an in-process brick (anonymous memory, 8 frames) on
// loopback and returns its address and a context for the test.
func startBrick(t *testing.T) (string, context.Context) {
	t.Helper()
	b := bricktest.Start(t, bricktest.Options{Frames: 8})
	return b.Addr, b.Ctx
}
