package soft

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// These tests play the other iWARP stacks' side of connection setup from
// raw bytes: what Linux siw (drivers/infiniband/sw/siw/siw_cm.c) and
// other RFC 5044/6581 peers may legally send. The real siw runs against
// this RNIC in the kernel lab (test/kernel).

// rawMPA encodes an MPA frame with an arbitrary flags byte, as another
// stack may send it.
func rawMPA(reply bool, flags, rev byte, pd []byte) []byte {
	key := mpaKeyReq
	if reply {
		key = mpaKeyRep
	}
	b := append([]byte(key), flags, rev)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pd)))
	return append(b, pd...)
}

// v2 encodes RFC 6581 enhanced connection data.
func v2(e enhanced) []byte { return appendConnData(nil, e, extHdr{}, nil) }

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// rtrFPDU is the first FPDU an initiator sends in peer-to-peer mode.
func rtrFPDU(kind uint8) []byte {
	switch kind {
	case rtrRead:
		var h [untaggedHdrSize + readReqSize]byte
		putUntagged(h[:], opReadReq, true, qnReadReq, 1, 0)
		(&readReq{sink: taggedBuf{stag: 0}, srcSTag: 1}).put(h[untaggedHdrSize:])
		return appendFPDU(nil, h[:], nil)
	case rtrWrite: // siw: STag 1, TO 0, no payload
		var h [taggedHdrSize]byte
		putTagged(h[:], opWrite, true, 1, 0)
		return appendFPDU(nil, h[:], nil)
	case rtrSend:
		var h [untaggedHdrSize]byte
		putUntagged(h[:], opSend, true, qnSend, 1, 0)
		return appendFPDU(nil, h[:], nil)
	}
	return nil
}

func sendFPDU(msn uint32, payload []byte) []byte {
	var h [untaggedHdrSize]byte
	putUntagged(h[:], opSend, true, qnSend, msn, 0)
	return appendFPDU(nil, h[:], payload)
}

// readFPDU reads one FPDU from r.
func readFPDU(t *testing.T, r *bufio.Reader) fpdu {
	t.Helper()
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		t.Fatalf("reading FPDU: %v", err)
	}
	ulen := int(binary.BigEndian.Uint16(l[:]))
	rest := make([]byte, ulen+padLen(ulen)+crcSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		t.Fatalf("reading FPDU: %v", err)
	}
	f, _, err := parseFPDU(append(l[:], rest...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The listener takes every legal Request a Linux iWARP peer may send and
// hands the brick exactly the caller's private data; its Reply is what
// that peer expects back.
func TestListenerAcceptsForeignRequests(t *testing.T) {
	siwDefault := enhanced{ird: 128, ord: 128}
	tests := []struct {
		name     string
		flags    byte // of the Request
		rev      byte
		pd       []byte
		wantRev  byte
		wantS    bool
		wantRTR  uint8
		sendMSN  uint32 // MSN of the first real Send after the RTR
		wantPeer uint64 // peer IRD the QP then honours (0: unlimited)
	}{
		{"siw default: rev 2, S, no CRC, GSO hint, not p2p", mpaFlagS | mpaFlagGSO, 2, cat(v2(siwDefault), []byte("client-hello")), 2, true, rtrNone, 1, 128},
		{"siw p2p: Read or Write RTR offered", mpaFlagS, 2, cat(v2(enhanced{ird: 128, ord: 128, p2p: true, readRTR: true, writeRTR: true}), []byte("client-hello")), 2, true, rtrRead, 1, 128},
		{"p2p, Write RTR only", mpaFlagS | mpaFlagC, 2, cat(v2(enhanced{ird: 4, ord: 4, p2p: true, writeRTR: true}), []byte("client-hello")), 2, true, rtrWrite, 1, 4},
		{"p2p, zero-length Send RTR only", mpaFlagS | mpaFlagC, 2, cat(v2(enhanced{ird: 4, ord: 4, p2p: true, zeroRTR: true}), []byte("client-hello")), 2, true, rtrSend, 2, 4},
		{"p2p, no RTR named: Read", mpaFlagS, 2, cat(v2(enhanced{ird: 4, ord: 4, p2p: true}), []byte("client-hello")), 2, true, rtrRead, 1, 4},
		{"IRD 0 announced: one Read for fences", mpaFlagS | mpaFlagC, 2, cat(v2(enhanced{}), []byte("client-hello")), 2, true, rtrNone, 1, 1},
		{"rev 2 without S: no enhanced data", mpaFlagC, 2, []byte("client-hello"), 2, false, rtrNone, 1, 0},
		{"rev 1 without CRC", 0, 1, []byte("client-hello"), 1, false, rtrNone, 1, 0},
		{"rev 1 with CRC", mpaFlagC, 1, []byte("client-hello"), 1, false, rtrNone, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			ln := listen(t)
			conn, err := net.Dial("tcp", ln.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(rawMPA(false, tc.flags, tc.rev, tc.pd)); err != nil {
				t.Fatal(err)
			}
			cr, err := ln.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(cr.PrivateData()) != "client-hello" {
				t.Fatalf("brick got private data %q, want exactly the caller's", cr.PrivateData())
			}
			var rbuf verbs.MR
			q, err := cr.Accept(verbs.QPConfig{}, []byte("server-hello"), func(q verbs.QP) error {
				m, err := q.PD().Register(make([]byte, 64), verbs.AccessLocalWrite)
				if err != nil {
					return err
				}
				rbuf = m
				return q.PostRecv(verbs.RecvWR{ID: 7, Local: verbs.SGEOf(m, 0, 64)})
			})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			defer rbuf.Deregister()
			if got := q.(*QP).peerIRD; got != tc.wantPeer {
				t.Errorf("peer IRD %d, want %d", got, tc.wantPeer)
			}
			br := bufio.NewReader(conn)
			rep, err := readMPA(br, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.rev != tc.wantRev || rep.enhanced != tc.wantS || !rep.crc || rep.reject || rep.ext != 0 {
				t.Fatalf("reply %+v, want rev %d S %v, CRC on, no extension bits", rep, tc.wantRev, tc.wantS)
			}
			user := rep.pd
			if rep.enhanced {
				e, x, u, err := parseConnData(rep.pd, true)
				if err != nil || x.present {
					t.Fatalf("reply connection data %+v %+v %v", e, x, err)
				}
				got := rtrNone
				switch {
				case !e.p2p:
				case e.readRTR && !e.writeRTR && !e.zeroRTR:
					got = rtrRead
				case e.writeRTR && !e.readRTR && !e.zeroRTR:
					got = rtrWrite
				case e.zeroRTR && !e.readRTR && !e.writeRTR:
					got = rtrSend
				default:
					t.Fatalf("reply names several RTRs: %+v", e)
				}
				if got != int(tc.wantRTR) {
					t.Fatalf("reply chose RTR %d, want %d (%+v)", got, tc.wantRTR, e)
				}
				user = u
			}
			if string(user) != "server-hello" {
				t.Fatalf("reply private data %q", user)
			}
			if _, err := conn.Write(cat(rtrFPDU(tc.wantRTR), sendFPDU(tc.sendMSN, []byte("ping")))); err != nil {
				t.Fatal(err)
			}
			if tc.wantRTR == rtrRead {
				f := readFPDU(t, br)
				if f.hdr.op != opReadResp || len(f.payload) != 0 || f.hdr.stag != 0 {
					t.Fatalf("RTR answered with %+v", f.hdr)
				}
			}
			wc := waitN(t, q.RecvCQ(), 1)[0]
			if wc.ID != 7 || wc.Status != verbs.StatusSuccess || wc.ByteLen != 4 {
				t.Fatalf("first receive %+v, want the 4-byte ping (the RTR takes no receive)", wc)
			}
		})
	}
}

// Dial against responders that answer as Linux siw and other peers may.
func TestDialForeignReplies(t *testing.T) {
	ours := byte(mpaFlagC | mpaFlagS | extAll)
	tests := []struct {
		name    string
		reply   func(req mpaFrame) []byte
		want    string // private data Dial returns
		reject  bool
		wantRTR bool
	}{
		{"siw: echoes our flags, P2P Read RTR, no extension header", func(req mpaFrame) []byte {
			return rawMPA(true, ours, 2, cat(v2(enhanced{ird: 128, ord: 16, p2p: true, readRTR: true}), []byte("server-hello")))
		}, "server-hello", false, true},
		{"siw without p2p support", func(req mpaFrame) []byte {
			return rawMPA(true, mpaFlagC|mpaFlagS, 2, cat(v2(enhanced{ird: 128, ord: 16}), []byte("server-hello")))
		}, "server-hello", false, false},
		{"rev 2 without S", func(req mpaFrame) []byte {
			return rawMPA(true, mpaFlagC, 2, []byte("server-hello"))
		}, "server-hello", false, false},
		{"rev 1", func(req mpaFrame) []byte {
			return rawMPA(true, mpaFlagC, 1, []byte("server-hello"))
		}, "server-hello", false, false},
		{"siw reject with enhanced data", func(req mpaFrame) []byte {
			return rawMPA(true, ours|mpaFlagR, 2, cat(v2(enhanced{}), []byte("go away")))
		}, "go away", true, false},
		{"reject, rev 2 without S, no data", func(req mpaFrame) []byte {
			return rawMPA(true, mpaFlagC|mpaFlagR, 2, nil)
		}, "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type got struct {
				req  mpaFrame
				next []byte // what the dialer sent after the Reply
				err  error
			}
			ch := make(chan got, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					ch <- got{err: err}
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				req, err := readMPA(br, false)
				if err == nil {
					_, err = c.Write(tc.reply(req))
				}
				var next []byte
				if err == nil && tc.wantRTR {
					next = make([]byte, mpaLenSize+untaggedHdrSize+readReqSize+crcSize)
					_, err = io.ReadFull(br, next)
				}
				ch <- got{req, next, err}
				if !tc.reject {
					io.Copy(io.Discard, br) // until the dialer closes
				}
			}()
			q, err := provider{}.Dial(testCtx(t), ln.Addr().String(), verbs.QPConfig{}, []byte("client-hello"))
			if tc.reject {
				var rej *verbs.RejectedError
				if !errors.As(err, &rej) || string(rej.PrivateData) != tc.want {
					t.Fatalf("dial: %v, want a rejection carrying %q", err, tc.want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				defer q.Close()
				if string(q.PrivateData()) != tc.want {
					t.Fatalf("private data %q, want %q", q.PrivateData(), tc.want)
				}
				if c := q.Caps(); c.AtomicWrite || c.Flush {
					t.Fatalf("extensions %+v negotiated with a peer that has none", c)
				}
			}
			g := <-ch
			if g.err != nil {
				t.Fatal(g.err)
			}
			// The Request: rev 2 with S and the caller's data right after
			// the enhanced data (no extension header in the private data).
			if g.req.rev != mpaRev2 || !g.req.enhanced || !g.req.crc {
				t.Fatalf("request %+v", g.req)
			}
			if _, _, u, _ := parseConnData(g.req.pd, false); string(u) != "client-hello" {
				t.Fatalf("request private data after the enhanced data %q", u)
			}
			if tc.wantRTR {
				f, _, err := parseFPDU(g.next)
				if err != nil || f.hdr.op != opReadReq || f.hdr.msn != 1 {
					t.Fatalf("first FPDU %+v %v, want the zero-length Read RTR", f.hdr, err)
				}
				if r, _ := parseReadReq(f.payload); r.sink.size != 0 {
					t.Fatalf("RTR Read of %d bytes", r.sink.size)
				}
			}
		})
	}
}

// rawSession is a connection to a soft listener driven from raw bytes: a
// peer that misbehaves in ways the software RNIC never would.
type rawSession struct {
	conn net.Conn
	br   *bufio.Reader
	q    *QP // the listener's queue pair
}

func dialRaw(t *testing.T) *rawSession {
	t.Helper()
	ln := listen(t)
	conn, err := net.Dial("tcp", ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(rawMPA(false, mpaFlagC, 1, nil)); err != nil {
		t.Fatal(err)
	}
	cr, err := ln.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	q, err := cr.Accept(verbs.QPConfig{}, nil, func(q verbs.QP) error {
		m, err := q.PD().Register(make([]byte, 64), verbs.AccessLocalWrite)
		if err != nil {
			return err
		}
		t.Cleanup(func() { m.Deregister() })
		return q.PostRecv(verbs.RecvWR{ID: 1, Local: verbs.SGEOf(m, 0, 64)})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	br := bufio.NewReader(conn)
	if _, err := readMPA(br, true); err != nil {
		t.Fatal(err)
	}
	return &rawSession{conn: conn, br: br, q: q.(*QP)}
}

// A peer that asks for Reads and stops reading the socket cannot hold up
// the revocation of the region it reads: the transmission that holds the
// region's lock is bounded by stallTimeout, then the QP fails.
func TestStalledReaderCannotBlockDeregister(t *testing.T) {
	old := stallTimeout
	stallTimeout = 300 * time.Millisecond
	t.Cleanup(func() { stallTimeout = old })
	r := dialRaw(t)
	const size = 1 << 20
	m, err := r.q.PD().Register(make([]byte, size), verbs.AccessRemoteRead)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []byte
	for msn := uint32(1); msn <= 64; msn++ { // 64 MiB: far more than the socket buffers hold
		var h [untaggedHdrSize + readReqSize]byte
		putUntagged(h[:], opReadReq, true, qnReadReq, msn, 0)
		(&readReq{sink: taggedBuf{stag: 9, size: size}, srcSTag: m.RKey(), srcTO: m.Addr()}).put(h[untaggedHdrSize:])
		reqs = appendFPDU(reqs, h[:], nil)
	}
	if _, err := r.conn.Write(reqs); err != nil {
		t.Fatal(err)
	}
	// The responses fill the socket buffers: the sender blocks in a write
	// holding the region's lock (ReadBytesServed, counted before each
	// write, stops growing). Then Deregister must still return, within
	// the stall bound (and slack), not when the peer reads.
	for last, deadline := uint64(0), time.Now().Add(10*time.Second); ; last = ReadBytesServed.Load() {
		time.Sleep(stallTimeout / 4) // watching for progress to stop
		if n := ReadBytesServed.Load(); n > 0 && n == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Read Responses never filled the socket")
		}
	}
	done := make(chan error, 1)
	go func() { done <- m.Deregister() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * stallTimeout):
		t.Fatal("Deregister is held up by a peer that stopped reading")
	}
	waitDone(t, r.q)
	if !errors.Is(r.q.Err(), verbs.ErrStalled) {
		t.Fatalf("QP error %v, want ErrStalled", r.q.Err())
	}
}

// A fault found on receive is reported to the peer with a Terminate even
// when the application closes the QP as soon as it sees the error, and the
// local error names the protocol violation.
func TestTerminateBeforeClose(t *testing.T) {
	r := dialRaw(t)
	bad := sendFPDU(1, []byte("ping"))
	bad[len(bad)-1] ^= 0xff // break the CRC
	if _, err := r.conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); r.q.Err() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bad CRC not noticed")
		}
	}
	r.q.Close()
	if !errors.Is(r.q.Err(), verbs.ErrProtocol) {
		t.Fatalf("QP error %v, want one wrapping verbs.ErrProtocol", r.q.Err())
	}
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f := readFPDU(t, r.br)
	if f.hdr.op != opTerminate {
		t.Fatalf("peer got opcode %d, want a Terminate", f.hdr.op)
	}
	tm, err := parseTerm(f.payload)
	if err != nil || tm.layer != layerLLP || tm.code != codeMPACRC {
		t.Fatalf("Terminate %+v %v, want LLP/MPA CRC error", tm, err)
	}
}

// Linux siw 6.1 answers a zero-length Read (our RTR and completion fences)
// with as many bytes as the last message it sent. The initiator drops them
// and carries on.
func TestZeroLengthReadAnsweredWithBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan error, 1)
	go func() {
		ch <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			if _, err := readMPA(br, false); err != nil {
				return err
			}
			rep := rawMPA(true, mpaFlagC|mpaFlagS, 2, cat(v2(enhanced{ird: 8, ord: 8, p2p: true, readRTR: true}), []byte("server-hello")))
			if _, err := c.Write(rep); err != nil {
				return err
			}
			stale := []byte("24 bytes of a stale Send")
			for i := 0; i < 2; i++ { // the RTR, then the fence behind the Send
				var f fpdu
				for f.hdr.op != opReadReq {
					f = readFPDU(t, br)
				}
				// in two segments, as siw does for a long stale length
				var h1, h2 [taggedHdrSize]byte
				putTagged(h1[:], opReadResp, false, 0, 0)
				putTagged(h2[:], opReadResp, true, 0, 10)
				resp := appendFPDU(appendFPDU(nil, h1[:], stale[:10]), h2[:], stale[10:])
				if _, err := c.Write(resp); err != nil {
					return err
				}
			}
			io.Copy(io.Discard, br)
			return nil
		}()
	}()
	q, err := provider{}.Dial(testCtx(t), ln.Addr().String(), verbs.QPConfig{}, []byte("client-hello"))
	if err != nil {
		t.Fatal(err)
	}
	src, _ := region(t, q.PD(), 64, verbs.AccessLocalWrite)
	mustPost(t, q, verbs.SendWR{ID: 0, Op: verbs.OpSend, Local: verbs.SGEOf(src, 0, 2)})
	wantStatuses(t, waitN(t, q.SendCQ(), 1), verbs.StatusSuccess)
	if err := q.(*QP).Err(); err != nil {
		t.Fatalf("QP failed: %v", err)
	}
	q.Close()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// Linux siw's Terminate control word (little-endian bitfields on x86):
// Layer and EType swapped, M D R in the low bits. Both layouts decode to
// the same fault.
func TestTerminateLayouts(t *testing.T) {
	hdr := make([]byte, mpaLenSize+untaggedHdrSize)
	putUntagged(hdr[mpaLenSize:], opReadReq, true, qnReadReq, 1, 0)
	rr := make([]byte, readReqSize)
	for _, tc := range []struct {
		name string
		ctl  [4]byte
	}{
		{"RFC 5040", [4]byte{layerRDMAP<<4 | etypeRemoteProtection, codeInvalidSTag, termM | termD | termR, 0}},
		{"Linux siw", [4]byte{etypeRemoteProtection<<4 | layerRDMAP, codeInvalidSTag, 0x07, 0}},
	} {
		b := cat(tc.ctl[:], hdr, rr)
		tm, err := parseTerm(b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tm.layer != layerRDMAP || tm.etype != etypeRemoteProtection || tm.code != codeInvalidSTag || !tm.hasR {
			t.Errorf("%s: decoded %+v", tc.name, tm)
		}
		if tm.status() != verbs.StatusRemoteAccess {
			t.Errorf("%s: status %v, want remote access", tc.name, tm.status())
		}
		if h, ok := tm.segment(); !ok || h.op != opReadReq || h.msn != 1 {
			t.Errorf("%s: terminated segment %+v %v", tc.name, h, ok)
		}
	}
}
