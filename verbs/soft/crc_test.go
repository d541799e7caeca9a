package soft

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/brick-storage/brick/internal/crc32c"
	"github.com/brick-storage/brick/verbs"
)

// TestOptionalCRC: the MPA CRC is used unless neither side asks for it
// (RFC 5044), and a connection without it moves the same bytes: a Write,
// a Read and a Send, with the CRC fields zero on the wire (frameTrailer).
func TestOptionalCRC(t *testing.T) {
	opt := provider{optionalCRC: true}
	tests := []struct {
		name         string
		dial, listen provider
		noCRC        bool
	}{
		{"both-ask", provider{}, provider{}, false},
		{"dialer-optional", opt, provider{}, false},
		{"listener-optional", provider{}, opt, false},
		{"both-optional", opt, opt, true},
		{"rev1-dialer-optional", provider{rev1: true, optionalCRC: true}, opt, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPairWith(t, tc.dial, tc.listen, verbs.QPConfig{}, verbs.QPConfig{}, nil)
			if p.c.noCRC != tc.noCRC || p.s.noCRC != tc.noCRC {
				t.Fatalf("no CRC: client %v, server %v; want %v", p.c.noCRC, p.s.noCRC, tc.noCRC)
			}
			if p.c.Caps().NoCRC != tc.noCRC || p.s.Caps().NoCRC != tc.noCRC {
				t.Fatalf("Caps().NoCRC: client %v, server %v; want %v", p.c.Caps().NoCRC, p.s.Caps().NoCRC, tc.noCRC)
			}
			tgt, tbuf := region(t, p.s.PD(), 64<<10, rw)
			src, sbuf := region(t, p.c.PD(), 64<<10, rw)
			dst, dbuf := region(t, p.c.PD(), 64<<10, rw)
			for i := range sbuf {
				sbuf[i] = byte(i * 7)
			}
			mustPost(t, p.c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, len(sbuf)), RKey: tgt.RKey(), Remote: tgt.Addr()})
			mustPost(t, p.c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(dst, 0, len(dbuf)), RKey: tgt.RKey(), Remote: tgt.Addr()})
			wantStatuses(t, waitN(t, p.c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
			syncMR(tgt)
			if !bytes.Equal(tbuf, sbuf) || !bytes.Equal(dbuf, sbuf) {
				t.Fatal("the bytes written or read back differ")
			}
			rbuf, rb := region(t, p.s.PD(), 100, verbs.AccessLocalWrite)
			if err := p.s.PostRecv(verbs.RecvWR{ID: 3, Local: verbs.SGEOf(rbuf, 0, 100)}); err != nil {
				t.Fatal(err)
			}
			mustPost(t, p.c, verbs.SendWR{ID: 4, Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, 100)})
			if wc := waitN(t, p.s.RecvCQ(), 1)[0]; wc.Status != verbs.StatusSuccess || wc.ByteLen != 100 || !bytes.Equal(rb, sbuf[:100]) {
				t.Fatalf("send: %+v", wc)
			}
		})
	}
}

// TestFrameWithoutCRC: the framing functions, with and without the CRC,
// give the same ULPDU_Length, pad and staged copy; the CRC field is the
// CRC32c of the FPDU, or zero without one.
func TestFrameWithoutCRC(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5, 6, 7} // a pad of one
	for _, noCRC := range []bool{false, true} {
		for _, staged := range []bool{false, true} {
			hdr := make([]byte, mpaLenSize+untaggedHdrSize)
			for i := mpaLenSize; i < len(hdr); i++ {
				hdr[i] = byte(0x40 + i)
			}
			trl := bytes.Repeat([]byte{0xee}, 3+crcSize)
			var t0 []byte
			body := payload
			if staged {
				body = make([]byte, len(payload))
				t0 = frameStaged(hdr, payload, body, trl, noCRC)
			} else {
				t0 = frameTrailer(hdr, payload, trl, noCRC)
			}
			ulen := untaggedHdrSize + len(payload)
			fpdu := append(append(append([]byte{}, hdr...), body...), t0...)
			want := crc32c.Update(0, fpdu[:len(fpdu)-crcSize])
			if noCRC {
				want = 0
			}
			switch {
			case int(binary.BigEndian.Uint16(hdr)) != ulen:
				t.Errorf("no CRC %v, staged %v: ULPDU_Length %d, want %d", noCRC, staged, binary.BigEndian.Uint16(hdr), ulen)
			case len(t0) != padLen(ulen)+crcSize || !bytes.Equal(t0[:padLen(ulen)], make([]byte, padLen(ulen))):
				t.Errorf("no CRC %v, staged %v: trailer %x", noCRC, staged, t0)
			case !bytes.Equal(body, payload):
				t.Errorf("no CRC %v, staged %v: staged copy %v", noCRC, staged, body)
			case binary.LittleEndian.Uint32(t0[len(t0)-crcSize:]) != want:
				t.Errorf("no CRC %v, staged %v: CRC field %#08x, want %#08x", noCRC, staged, binary.LittleEndian.Uint32(t0[len(t0)-crcSize:]), want)
			}
		}
	}
}

// TestOptionalCRCOnTheWire records both directions of a connection
// between two OptionalCRC ends, and of one where the listener asks: the
// MPA frames' C bits, and every FPDU's CRC field, are what RFC 5044 wants
// of the connection (zero without a CRC, the CRC32c of the FPDU with one).
func TestOptionalCRCOnTheWire(t *testing.T) {
	opt := provider{optionalCRC: true}
	for _, tc := range []struct {
		name   string
		listen provider
		crc    bool
	}{{"neither-asks", opt, false}, {"listener-asks", provider{}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listenWith(t, tc.listen)
			rl := startRelay(t, ln.Addr())
			accepted := make(chan verbs.QP, 1)
			go func() {
				cr, err := ln.Accept(testCtx(t))
				if err != nil {
					accepted <- nil
					return
				}
				qp, _ := cr.Accept(verbs.QPConfig{}, nil, nil)
				accepted <- qp
			}()
			c, err := opt.Dial(testCtx(t), rl.addr, verbs.QPConfig{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := <-accepted
			if s == nil {
				t.Fatal("accept failed")
			}
			tgt, _ := region(t, s.PD(), 8192, rw)
			src, _ := region(t, c.PD(), 8192, rw)
			mustPost(t, c, verbs.SendWR{ID: 0, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, 8192), RKey: tgt.RKey(), Remote: tgt.Addr()})
			mustPost(t, c, verbs.SendWR{ID: 1, Op: verbs.OpRead, Local: verbs.SGEOf(src, 0, 8192), RKey: tgt.RKey(), Remote: tgt.Addr()})
			wantStatuses(t, waitN(t, c.SendCQ(), 2), verbs.StatusSuccess, verbs.StatusSuccess)
			c.Close()
			s.Close()
			up, down := rl.wait()
			// The dialer never asks; the reply's C bit is the connection's.
			checkWireCRC(t, "request", up, false, tc.crc)
			checkWireCRC(t, "reply", down, tc.crc, tc.crc)
		})
	}
}

// checkWireCRC checks the C bit of the MPA frame at the start of b, and
// the CRC field of every whole FPDU after it (crc: the connection has one).
func checkWireCRC(t *testing.T, dir string, b []byte, cBit, crc bool) {
	t.Helper()
	if len(b) < mpaHdrSize {
		t.Fatalf("%s: %d bytes recorded", dir, len(b))
	}
	if got := b[mpaKeySize]&mpaFlagC != 0; got != cBit {
		t.Errorf("MPA %s: C bit %v, want %v", dir, got, cBit)
	}
	b = b[mpaHdrSize+int(binary.BigEndian.Uint16(b[mpaHdrSize-2:])):]
	n := 0
	for len(b) >= mpaLenSize {
		ulen := int(binary.BigEndian.Uint16(b))
		total := mpaLenSize + ulen + padLen(ulen) + crcSize
		if len(b) < total {
			break // cut short by the close
		}
		got := binary.LittleEndian.Uint32(b[total-crcSize:])
		want := uint32(0)
		if crc {
			want = crc32c.Update(0, b[:total-crcSize])
		}
		if got != want {
			t.Errorf("%s FPDU %d: CRC field %#08x, want %#08x", dir, n, got, want)
		}
		b, n = b[total:], n+1
	}
	if n < 2 {
		t.Errorf("%s: %d FPDUs recorded", dir, n)
	}
}

// relay forwards one TCP connection to a target and records both
// directions.
type relay struct {
	addr     string
	ln       net.Listener
	wg       sync.WaitGroup
	up, down bytes.Buffer
}

func startRelay(t *testing.T, target string) *relay {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: l.Addr().String(), ln: l}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		in, err := l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		var pipes sync.WaitGroup
		pipe := func(dst, src net.Conn, rec *bytes.Buffer) {
			defer pipes.Done()
			io.Copy(io.MultiWriter(dst, rec), src)
			dst.Close()
			src.Close()
		}
		pipes.Add(2)
		go pipe(out, in, &r.up)
		go pipe(in, out, &r.down)
		pipes.Wait()
	}()
	t.Cleanup(func() { l.Close(); r.wg.Wait() })
	return r
}

// wait returns what the dialer sent and what it received, once both ends
// have closed.
func (r *relay) wait() (up, down []byte) {
	r.ln.Close()
	r.wg.Wait()
	return r.up.Bytes(), r.down.Bytes()
}
