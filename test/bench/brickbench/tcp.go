package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/brick-storage/brick/internal/bench"
)

// The TCP baselines' protocol: a connection opens with the message size
// as a 4-byte big-endian integer; then each message of that size the
// client sends is echoed back whole. A ping-pong and a request-reply are
// the same exchange, with a 4 KiB and a 64-byte message.
const sizeHeader = 4

// maxMessage bounds the size a client may announce.
const maxMessage = 4 << 20

func tcpServerCommand() *cli.Command {
	return &cli.Command{
		Name:  "tcp-server",
		Usage: "echo server of the TCP ping-pong and request-reply baselines (runs until killed)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "listen", Value: echoAddr}, hopsFlag},
		Action: action(func(c *call) error {
			l, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); l.Close() }()
			for {
				conn, err := l.Accept()
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				go echo(conn, c.Int("hops"))
			}
		}),
	}
}

func echo(conn net.Conn, hops int) {
	defer conn.Close()
	var h [sizeHeader]byte
	if _, err := io.ReadFull(conn, h[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 || n > maxMessage {
		return
	}
	if hops > 0 {
		echoHops(conn, int(n), hops)
		return
	}
	buf := make([]byte, n)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		if _, err := conn.Write(buf); err != nil {
			return
		}
	}
}

// dialEcho connects to the echo server for messages of size bytes. Nagle
// is off (Go's default) as in the brick's software RNIC.
func dialEcho(addr string, size int) (net.Conn, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var h [sizeHeader]byte
	binary.BigEndian.PutUint32(h[:], uint32(size))
	if _, err := conn.Write(h[:]); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// exchange runs round trips on conns (one worker each) for d, each reply
// reaching its worker through hops goroutines.
func exchange(ctx context.Context, addr string, conns, size, hops int, d time.Duration) (bench.Measured, error) {
	ops := make([]bench.Op, conns)
	for i := range ops {
		conn, err := dialEcho(addr, size)
		if err != nil {
			return bench.Measured{}, err
		}
		defer conn.Close()
		if hops > 0 {
			ops[i] = hopsOp(conn, size, hops)
			continue
		}
		buf := make([]byte, size)
		ops[i] = func(context.Context) (int, error) {
			if _, err := conn.Write(buf); err != nil {
				return 0, err
			}
			_, err := io.ReadFull(conn, buf)
			return size, err
		}
	}
	m := bench.Run(ctx, d, ops, 0, nil)
	return m, m.Err
}

// hopsFlag is --hops: goroutine hand-offs per message on this side.
var hopsFlag = &cli.IntFlag{Name: "hops", Usage: "pass each message through this many goroutines on this side (the cost of hand-offs; 0: none)"}

var durationFlag = &cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "how long to measure"}

// echoAddr is where the echo server listens and its clients dial, unless
// told otherwise.
const echoAddr = "127.0.0.1:15300"

var addrFlag = &cli.StringFlag{Name: "addr", Value: echoAddr}

// sizeFlag is --size, the bytes of each message, of default n.
func sizeFlag(n int) *cli.IntFlag { return &cli.IntFlag{Name: "size", Value: n} }

// messageSize is --size, refused outside what the echo server serves.
func messageSize(c *call) (int, error) {
	size := c.Int("size")
	if size <= 0 || size > maxMessage {
		return 0, fmt.Errorf("--size must be 1…%d", maxMessage)
	}
	return size, nil
}

func pingPongCommand() *cli.Command {
	return &cli.Command{
		Name:  "pingpong",
		Usage: "TCP ping-pong of --size bytes on one connection: p50 and p99 round trip (baseline of 4 KiB Write/Read latency)",
		Flags: []cli.Flag{addrFlag, sizeFlag(4096), durationFlag, outFlag},
		Action: action(func(c *call) error {
			size, err := messageSize(c)
			if err != nil {
				return err
			}
			m, err := exchange(c.Context, c.String("addr"), 1, size, 0, c.Duration("duration"))
			if err != nil {
				return err
			}
			f := figures()
			f.Values[bench.FigPingPongP50us] = float64(m.Latency.Quantile(0.5)) / 1e3
			f.Values["tcp_pingpong_4k_p99_us"] = float64(m.Latency.Quantile(0.99)) / 1e3
			return emit(c, f)
		}),
	}
}

func requestReplyCommand() *cli.Command {
	return &cli.Command{
		Name:  "rr",
		Usage: "TCP request-reply of --size bytes, one outstanding per connection on --conns connections: exchanges per second (baseline of the control path's messages)",
		Flags: []cli.Flag{addrFlag, sizeFlag(64), &cli.IntFlag{Name: "conns", Value: 64}, hopsFlag, durationFlag, outFlag},
		Action: action(func(c *call) error {
			if c.Int("conns") <= 0 {
				return errors.New("--conns must be positive")
			}
			if c.Int("hops") < 0 {
				return errors.New("--hops must not be negative")
			}
			size, err := messageSize(c)
			if err != nil {
				return err
			}
			m, err := exchange(c.Context, c.String("addr"), c.Int("conns"), size, c.Int("hops"), c.Duration("duration"))
			if err != nil {
				return err
			}
			f := figures()
			f.Values[bench.FigRR64PerSec] = float64(m.Ops) / m.Elapsed.Seconds()
			return emit(c, f)
		}),
	}
}
