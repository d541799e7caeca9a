package main

import (
	"context"
	"io"
	"net"
)

// Hand-offs (tcp-server --hops, rr --hops): each message passes through
// hops goroutines on each side before it is answered or reaches its
// caller, as a message through brickd passes from the socket's reader to
// the session and its worker. The figure against --hops 0 is what the
// hand-offs alone cost on this machine (docs/benchmarks.md).

// relay returns a channel whose messages reach out through n more
// goroutines; closing it closes out once they are through.
func relay(n int, out chan []byte) chan []byte {
	for range n {
		in := make(chan []byte, 1)
		go func(in, out chan []byte) {
			for b := range in {
				out <- b
			}
			close(out)
		}(in, out)
		out = in
	}
	return out
}

// handOff reads messages of size bytes from conn into one of two
// buffers and sends each down a chain of hops goroutines to out; the
// receiver gives each buffer back on the returned channel. It closes out
// when conn fails.
func handOff(conn net.Conn, size, hops int, out chan []byte) (free chan []byte) {
	free = make(chan []byte, 2)
	free <- make([]byte, size)
	free <- make([]byte, size)
	in := relay(hops-1, out)
	go func() {
		defer close(in)
		for b := range free {
			if _, err := io.ReadFull(conn, b); err != nil {
				return
			}
			in <- b
		}
	}()
	return free
}

// echoHops is echo with hops hand-offs between reading a message and
// writing it back.
func echoHops(conn net.Conn, size, hops int) {
	out := make(chan []byte, 1)
	free := handOff(conn, size, hops, out)
	for b := range out {
		if _, err := conn.Write(b); err != nil {
			break
		}
		free <- b
	}
	conn.Close()
	for b := range out { // let the reader end
		free <- b
	}
}

// hopsOp is one request-reply on conn whose replies come through hops
// hand-offs.
func hopsOp(conn net.Conn, size, hops int) func(context.Context) (int, error) {
	replies := make(chan []byte, 1)
	free := handOff(conn, size, hops, replies)
	req := make([]byte, size)
	return func(context.Context) (int, error) {
		if _, err := conn.Write(req); err != nil {
			return 0, err
		}
		b, ok := <-replies
		if !ok {
			return 0, io.ErrUnexpectedEOF
		}
		free <- b
		return size, nil
	}
}
