package soft

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
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

// A Read Request is admitted only as one whole segment with the next MSN
// of queue 1; anything else ends the QP with a DDP Terminate saying which
// rule it broke.
func TestReadRequestAdmission(t *testing.T) {
	for _, tc := range []struct {
		name    string
		last    bool
		msn, mo uint32
		size    int // of the payload
		code    uint8
		wantErr string
	}{
		{"short", true, 1, 0, readReqSize - 8, codeUInvalidMO, "Read Request must be one 28-byte segment"},
		{"long", true, 1, 0, readReqSize + 4, codeUInvalidMO, "Read Request must be one 28-byte segment"},
		{"not last", false, 1, 0, readReqSize, codeUInvalidMO, "Read Request must be one 28-byte segment"},
		{"offset", true, 1, readReqSize, readReqSize, codeUInvalidMO, "Read Request must be one 28-byte segment"},
		{"MSN ahead", true, 2, 0, readReqSize, codeUMSNRange, "Read Request MSN 2, want 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t)
			var h [untaggedHdrSize]byte
			putUntagged(h[:], opReadReq, tc.last, qnReadReq, tc.msn, tc.mo)
			if _, err := r.conn.Write(appendFPDU(nil, h[:], make([]byte, tc.size))); err != nil {
				t.Fatal(err)
			}
			r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			f := readFPDU(t, r.br)
			if f.hdr.op != opTerminate {
				t.Fatalf("peer got opcode %d, want a Terminate", f.hdr.op)
			}
			tm, err := parseTerm(f.payload)
			if err != nil || tm.layer != layerDDP || tm.etype != etypeDDPUntagged || tm.code != tc.code {
				t.Fatalf("Terminate %+v %v, want DDP untagged code %#x", tm, err, tc.code)
			}
			r.conn.Close() // the QP drains the socket until the peer closes
			waitDone(t, r.q)
			if err := r.q.Err(); !errors.Is(err, errFraming) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("QP error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// testFPDU frames an FPDU with a payload of n zero bytes; fpduBuffered
// reads only its length and opcode.
func testFPDU(op uint8, n int) []byte {
	hl := untaggedHdrSize
	if op == opWrite {
		hl = taggedHdrSize
	}
	ulen := hl + n
	b := make([]byte, mpaLenSize+ulen+padLen(ulen)+crcSize)
	binary.BigEndian.PutUint16(b, uint16(ulen))
	if op == opWrite {
		putTagged(b[mpaLenSize:], op, true, 1, 0)
	} else {
		putUntagged(b[mpaLenSize:], op, true, qnReadReq, 0, 0)
	}
	return b
}

// The receive goroutine holds its answers back only while the next FPDU
// can be received without reading the socket, and not past a FLUSH.
func TestFPDUBuffered(t *testing.T) {
	readReq := testFPDU(opReadReq, readReqSize)
	write := testFPDU(opWrite, 100)
	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"empty", nil, false},
		{"part of the length", readReq[:1], false},
		{"Read Request", readReq, true},
		{"Read Request but its last byte", readReq[:len(readReq)-1], false},
		{"Read Request, then part of a Write", append(append([]byte{}, readReq...), write[:10]...), true},
		{"small Write", write, true},
		{"4 KiB Write, longer than the buffer", testFPDU(opWrite, 4096), false},
		{"FLUSH Request", testFPDU(opFlushReq, flushReqSize), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := &QP{br: bufio.NewReaderSize(bytes.NewReader(c.in), rxBufSize)}
			q.br.Peek(1) // fill the buffer as a receive would
			if got := q.fpduBuffered(); got != c.want {
				t.Fatalf("fpduBuffered = %v, want %v", got, c.want)
			}
		})
	}
}
