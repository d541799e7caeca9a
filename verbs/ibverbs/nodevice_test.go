//go:build ibverbs

package ibverbs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// Without an RDMA device (CI, this project's build machine), every entry
// point says so with an error wrapping ErrNotSupported.
func TestNoDevice(t *testing.T) {
	skipWithDevice(t)
	p := New(Options{})
	ctx := context.Background()
	_, lerr := p.Listen(ctx, "127.0.0.1:0", verbs.ListenConfig{})
	_, derr := p.Dial(ctx, "127.0.0.1:7470", verbs.QPConfig{}, []byte("hello"))
	_, nerr := New(Options{Netdev: "lo"}).Listen(ctx, ":0", verbs.ListenConfig{})
	for name, err := range map[string]error{"listen": lerr, "dial": derr, "listen with netdev": nerr} {
		if !errors.Is(err, verbs.ErrNotSupported) {
			t.Errorf("%s: err %v, want ErrNotSupported", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "no RDMA device found") || !strings.Contains(err.Error(), "tcp://") {
			t.Errorf("%s: %q does not say there is no RDMA device and what to use instead", name, err)
		}
	}
	t.Logf("listen: %v", lerr)
	if p.Scheme() != "rdma" {
		t.Errorf("scheme %q", p.Scheme())
	}
}
