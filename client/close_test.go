package client_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestCloseDuringUse: Close while other goroutines are reading, writing
// and calling verbs never frees the registered buffers under an operation
// that is using them (a data race, and a fault on the unmapped memory);
// once Close has returned, every operation fails with ErrClosed.
func TestCloseDuringUse(t *testing.T) {
	addr, ctx := startBrick(t)
	c, err := client.Dial(ctx, addr, client.Options{StagingSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Alloc(ctx, 0); err != nil {
		t.Fatal(err)
	}
	h, err := c.Map(ctx, 0, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	ops := map[string]func() error{
		"write":  func() error { _, err := h.WriteAt(buf[:len(buf)/2], 0); return err },
		"read":   func() error { _, err := h.ReadAt(buf[len(buf)/2:], 0); return err },
		"status": func() error { _, err := c.Status(ctx); return err },
		"ping":   func() error { return c.Ping(ctx) },
	}
	closed := make(chan struct{})
	started := make(chan struct{}, len(ops))
	var wg sync.WaitGroup
	for name, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				err := op()
				if first {
					if err != nil {
						t.Errorf("%s before Close: %v", name, err)
					}
					started <- struct{}{}
					first = false
				}
				select {
				case <-closed:
					// Once Close has returned, every operation fails.
					if err := op(); !errors.Is(err, client.ErrClosed) {
						t.Errorf("%s after Close: %v, want ErrClosed", name, err)
					}
					return
				default:
				}
				// While Close runs, any error will do (the QP's, a flushed
				// completion): what must not happen is a fault or a race.
			}
		}()
	}
	for range ops {
		<-started
	}
	c.Close()
	close(closed)
	wg.Wait()
}
