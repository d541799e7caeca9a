package brick_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

// TestBadHello: a connection whose hello is not brick's is rejected with a
// status, and one with no common version likewise.
func TestBadHello(t *testing.T) {
	e := newEnv(t, envOpts{})
	hostport := strings.TrimPrefix(e.addr, "tcp://")
	cases := []struct {
		name string
		pd   []byte
		want protocol.Status
	}{
		{"junk", []byte("hello?"), protocol.StatusProtocol},
		{"future version", (&protocol.HelloRequest{MinVersion: 7, MaxVersion: 9}).Marshal(), protocol.StatusNotSupported},
	}
	for _, tc := range cases {
		_, err := soft.New().Dial(e.ctx, hostport, verbs.QPConfig{SendDepth: 4, RecvDepth: 4}, tc.pd)
		var rej *verbs.RejectedError
		if !errors.As(err, &rej) {
			t.Fatalf("%s: got %v, want a rejection", tc.name, err)
		}
		var hr protocol.HelloReply
		if err := hr.Unmarshal(rej.PrivateData); err != nil || hr.Status != tc.want {
			t.Fatalf("%s: reject data %+v %v", tc.name, hr, err)
		}
	}
	e.dial() // and the brick still serves
}

// TestMaxSessions: the session limit refuses with a status, not a hang.
func TestMaxSessions(t *testing.T) {
	e := newEnv(t, envOpts{maxSessions: 1})
	e.dial()
	if _, err := client.Dial(e.ctx, e.addr, client.Options{}); !errors.Is(err, client.ErrLimit) {
		t.Fatalf("second session: %v", err)
	}
}

// TestMalformedFrame: bytes that are not a frame end that session only.
func TestMalformedFrame(t *testing.T) {
	e := newEnv(t, envOpts{})
	good := e.dial()
	hello := (&protocol.HelloRequest{MinVersion: 1, MaxVersion: 1, RecvDepth: 4}).Marshal()
	hostport := strings.TrimPrefix(e.addr, "tcp://")
	frames := map[string][]byte{
		"short":        {1, 2, 3},
		"bad magic":    bytes.Repeat([]byte{0xAA}, 64),
		"reply sent":   encode(t, protocol.TypeAlloc|protocol.ReplyBit, &protocol.EmptyReply{T: protocol.TypeAlloc | protocol.ReplyBit}),
		"bad checksum": corrupt(encode(t, protocol.TypeAlloc, &protocol.AllocRequest{ID: 0})),
	}
	for name, frame := range frames {
		qp, err := soft.New().Dial(e.ctx, hostport, verbs.QPConfig{SendDepth: 4, RecvDepth: 4}, hello)
		if err != nil {
			t.Fatal(err)
		}
		buf, err := verbs.AllocMemory(4096)
		if err != nil {
			t.Fatal(err)
		}
		mr, err := qp.PD().Register(buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		copy(buf, frame)
		if err := qp.PostSend(verbs.SendWR{ID: 1, Op: verbs.OpSend, Local: verbs.SGEOf(mr, 0, len(frame))}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-qp.Done():
		case <-e.ctx.Done():
			t.Fatalf("%s: the brick kept a session that sent garbage", name)
		}
		qp.Close()
		mr.Deregister()
		verbs.FreeMemory(buf)
		if _, err := good.Status(e.ctx); err != nil {
			t.Fatalf("%s: the other session broke: %v", name, err)
		}
	}
	// A raw TCP peer that never speaks MPA does not disturb the brick.
	c, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	c.Close()
	if _, err := good.Status(e.ctx); err != nil {
		t.Fatal(err)
	}
}

func encode(t *testing.T, typ protocol.Type, m protocol.Message) []byte {
	b := make([]byte, protocol.MaxMessage)
	n, err := protocol.Encode(b, typ, protocol.StatusOK, 1, m)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func corrupt(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }

// TestConcurrentSessions: many sessions doing the whole cycle at once, with
// pipelined verbs within each.
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, envOpts{frames: 64})
	const sessions, perSession = 8, 4
	var wg sync.WaitGroup
	errc := make(chan error, sessions*perSession)
	for s := range sessions {
		c := e.dial()
		for i := range perSession {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errc <- cycle(e, c, uint64(s*perSession+i)*block)
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := e.store.Stats(); st.Blocks != 0 || st.FreeFrames != st.Frames {
		t.Fatalf("blocks left behind: %+v", st)
	}
}

func cycle(e *env, c *client.Client, id uint64) error {
	ctx := e.ctx
	if err := c.Alloc(ctx, id); err != nil {
		return err
	}
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		return err
	}
	data := make([]byte, 256<<10)
	rand.Read(data)
	if _, err := h.WriteAt(data, 4096); err != nil {
		return err
	}
	got := make([]byte, len(data))
	if _, err := h.ReadAt(got, 4096); err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("block %#x: read back differs", id)
	}
	if err := h.Unmap(ctx); err != nil {
		return err
	}
	return c.Free(ctx, id)
}

// TestCloseRevokes: stopping the server ends sessions and revokes maps.
func TestCloseRevokes(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.dial()
	wantErr(t, "alloc", c.Alloc(e.ctx, 0), nil)
	if _, err := c.Map(e.ctx, 0, protocol.MapReadWrite); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	<-c.Done()
	if st := e.store.Stats(); st.Unclean != 0 {
		t.Fatalf("unclean after a clean close: %+v", st)
	}
	b, err := e.store.Lookup(0)
	if err != nil || b.MarkedRW {
		t.Fatalf("rw mark survived revocation: %+v %v", b, err)
	}
}
