package main

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer serves the TCP baselines' echo, with hops hand-offs, until
// the test ends; it returns the address.
func echoServer(t *testing.T, hops int) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echo(c, hops)
		}
	}()
	return l.Addr().String()
}

// TestExchange: the TCP baselines' echo round trips complete on every
// connection, with and without hand-offs on either side, and a refused
// size ends the connection.
func TestExchange(t *testing.T) {
	for _, tc := range []struct{ conns, size, serverHops, clientHops int }{
		{1, 4096, 0, 0}, {8, 64, 0, 0}, {8, 64, 2, 0}, {8, 64, 0, 3}, {1, 4096, 1, 1},
	} {
		addr := echoServer(t, tc.serverHops)
		m, err := exchange(context.Background(), addr, tc.conns, tc.size, tc.clientHops, 50*time.Millisecond)
		if err != nil || m.Ops == 0 || m.Bytes != m.Ops*uint64(tc.size) {
			t.Errorf("%+v: %v, %d ops, %d bytes", tc, err, m.Ops, m.Bytes)
		}
	}
	c, err := dialEcho(echoServer(t, 0), maxMessage+1)
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
