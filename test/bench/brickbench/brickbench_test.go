package main

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

// TestExchange: the TCP baselines' echo round trips complete on every
// connection, and a refused size ends the connection.
func TestExchange(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	for _, tc := range []struct{ conns, size int }{{1, 4096}, {8, 64}} {
		m, err := exchange(context.Background(), l.Addr().String(), tc.conns, tc.size, 50*time.Millisecond)
		if err != nil || m.Ops == 0 || m.Bytes != m.Ops*uint64(tc.size) {
			t.Errorf("%d conns × %d bytes: %v, %d ops, %d bytes", tc.conns, tc.size, err, m.Ops, m.Bytes)
		}
	}
	c, err := dialEcho(l.Addr().String(), maxMessage+1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("a size above maxMessage was served")
	}
}

// TestRSS reads this process's resident memory.
func TestRSS(t *testing.T) {
	n, err := rss(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Errorf("VmRSS %d bytes, %v", n, err)
	}
	if _, err := rss(-1); err == nil {
		t.Error("rss of no process succeeded")
	}
}
