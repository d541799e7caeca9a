package soft

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// sendRoom must see a send buffer the peer stopped draining as full, or
// the receive goroutine could block writing to a peer that waits for it
// to read.
func TestSendRoom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-accepted // never read: the buffers fill
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	q := &QP{conn: c}
	if room := q.sendRoom(); room < corkMax+fpduOverhead {
		t.Fatalf("idle connection: room %d, want at least one small answer (%d)", room, corkMax+fpduOverhead)
	}
	chunk := make([]byte, 64<<10)
	for {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	if room := q.sendRoom(); room != 0 {
		t.Fatalf("full send buffer: room %d, want 0", room)
	}
}

// A connection that is not a socket offers no room: the receive
// goroutine then leaves every answer to the send goroutine.
func TestSendRoomNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	q := &QP{conn: a}
	if room := q.sendRoom(); room != 0 {
		t.Fatalf("net.Pipe: room %d, want 0", room)
	}
}
