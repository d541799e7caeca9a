package soft

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

func FuzzParseFPDU(f *testing.F) {
	var th [taggedHdrSize]byte
	putTagged(th[:], opWrite, true, 0x1234_5601, 0xdead_beef_0000)
	f.Add(appendFPDU(nil, th[:], []byte("payload")))
	putTagged(th[:], opReadResp, false, 7, 0)
	f.Add(appendFPDU(nil, th[:], nil))
	var uh [untaggedHdrSize + readReqSize]byte
	putUntagged(uh[:], opReadReq, true, qnReadReq, 1, 0)
	(&readReq{sink: taggedBuf{stag: 1, to: 2, size: 3}, srcSTag: 4, srcTO: 5}).put(uh[untaggedHdrSize:])
	f.Add(appendFPDU(nil, uh[:], nil))
	putUntagged(uh[:], opSend, true, qnSend, 9, 0)
	f.Add(appendFPDU(nil, uh[:untaggedHdrSize], []byte{1, 2, 3}))
	putUntagged(uh[:], opTerminate, true, qnTerminate, 1, 0)
	seg := make([]byte, mpaLenSize+taggedHdrSize)
	putTagged(seg[mpaLenSize:], opWrite, true, 5, 6)
	term := newTerm(layerDDP, etypeDDPTagged, codeTBounds).withSegment(seg).appendPayload(nil)
	f.Add(appendFPDU(nil, uh[:untaggedHdrSize], term))
	putUntaggedInv(uh[:], opSendInv, true, qnSend, 2, 0, 0xabcdef01)
	f.Add(appendFPDU(nil, uh[:untaggedHdrSize], []byte{4, 5}))
	putTagged(th[:], opAtomicWrite, true, 0x1234_5601, 0x1000)
	f.Add(appendFPDU(nil, th[:], []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	var fh [untaggedHdrSize + flushReqSize]byte
	putUntagged(fh[:], opFlushReq, true, qnReadReq, 3, 0)
	(&taggedBuf{stag: 1, to: 2, size: 3}).put(fh[untaggedHdrSize:])
	f.Add(appendFPDU(nil, fh[:], nil))
	putTagged(th[:], opFlushResp, true, 1, 2)
	f.Add(appendFPDU(nil, th[:], nil))
	f.Add([]byte{0xff, 0xff, 0x41, 0x43})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, b []byte) {
		parseHeader(b)
		parseTerm(b)
		parseReadReq(b)
		if r, err := parseFlushReq(b); err == nil {
			var enc [flushReqSize]byte
			r.put(enc[:])
			if !bytes.Equal(enc[:], b) {
				t.Fatalf("flush request re-encodes as %x, want %x", enc, b)
			}
		}
		fp, n, err := parseFPDU(b)
		if err != nil {
			// Give the fuzzer a way past the CRC: fix it up and retry.
			if len(b) < mpaLenSize+ctrlSize {
				return
			}
			ulen := int(binary.BigEndian.Uint16(b))
			total := mpaLenSize + ulen + padLen(ulen) + crcSize
			if total > len(b) {
				return
			}
			b = appendFPDU(nil, b[mpaLenSize:mpaLenSize+ulen], nil)
			if fp, n, err = parseFPDU(b); err != nil {
				return
			}
		}
		if n > len(b) || n%4 != 0 {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		ulen := int(binary.BigEndian.Uint16(b))
		if hl := hdrLen(b[mpaLenSize]); len(fp.payload) != ulen-hl {
			t.Fatalf("payload %d bytes, ULPDU_Length %d", len(fp.payload), ulen)
		}
		// Re-encoding the header yields the same decoded header.
		var hb [maxHdrSize]byte
		hl := hdrLen(b[mpaLenSize])
		h := fp.hdr
		if h.tagged {
			putTagged(hb[:], h.op, h.last, h.stag, h.to)
		} else {
			putUntaggedInv(hb[:], h.op, h.last, h.qn, h.msn, h.mo, h.inv)
		}
		if h2, _, err := parseHeader(hb[:hl]); err != nil || h2 != h {
			t.Fatalf("re-encoded header %+v, %v; want %+v", h2, err, h)
		}
		switch h.op {
		case opReadReq:
			parseReadReq(fp.payload)
		case opFlushReq:
			parseFlushReq(fp.payload)
		case opTerminate:
			if tm, err := parseTerm(fp.payload); err == nil {
				tm.segment()
				tm.status()
				tm.appendPayload(nil)
			}
		}
	})
}

func FuzzMPARequest(f *testing.F) {
	f.Add(appendMPA(nil, false, false, []byte("hello")))
	f.Add(appendMPA(nil, true, false, nil))
	f.Add(appendMPA(nil, true, true, bytes.Repeat([]byte{1}, mpaMaxPD)))
	bad := appendMPA(nil, false, false, nil)
	bad[18], bad[19] = 0xff, 0xff
	f.Add(bad)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))

	f.Fuzz(func(t *testing.T, b []byte) {
		for _, reply := range []bool{false, true} {
			fr, err := parseMPA(b, reply)
			if err != nil {
				continue
			}
			if len(fr.pd) > mpaMaxPD || fr.markers || (fr.rev != mpaRev1 && fr.rev != mpaRev2) {
				t.Fatalf("accepted %+v", fr)
			}
			// Flags we keep re-encode to the same frame.
			if enc := fr.marshal(nil); enc[16] == b[16] && !bytes.Equal(enc, b) {
				t.Fatalf("re-encoding %x, want %x", enc, b)
			}
			fr2, err := readMPA(bytes.NewReader(b), reply)
			if err != nil || !bytes.Equal(fr2.pd, fr.pd) {
				t.Fatalf("readMPA disagrees: %v", err)
			}
		}
	})
}

// FuzzConnData: the enhanced connection data and extension header decode
// without panicking, and what decodes re-encodes to the same bytes.
func FuzzConnData(f *testing.F) {
	f.Add(appendConnData(nil, enhanced{ird: 1024, ord: 32, p2p: true, readRTR: true}, extHdr{present: true, flags: extAll}, []byte("hello")))
	f.Add(appendConnData(nil, enhanced{}, extHdr{}, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'B', 'r', 'k', 'X', 1, 0xff, 0, 1})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, x, user, err := parseConnData(b, true)
		if err != nil {
			return
		}
		if enc := appendConnData(nil, e, x, user); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoded %x, want %x", enc, b)
		}
	})
}

// FuzzReceive feeds arbitrary bytes (with CRCs fixed up FPDU by FPDU where
// the lengths allow) to a running queue pair: it must end the connection
// with an error, never panic, hang or allocate by a length it was given.
func FuzzReceive(f *testing.F) {
	var uh [untaggedHdrSize + readReqSize]byte
	putUntagged(uh[:], opSend, true, qnSend, 1, 0)
	f.Add(appendFPDU(nil, uh[:untaggedHdrSize], []byte("hi")))
	putUntagged(uh[:], opReadReq, true, qnReadReq, 1, 0)
	f.Add(appendFPDU(nil, uh[:], nil))
	var th [taggedHdrSize]byte
	putTagged(th[:], opWrite, true, 0x100, 0)
	f.Add(appendFPDU(nil, th[:], make([]byte, 100)))
	putTagged(th[:], opReadResp, true, 0, 0)
	f.Add(appendFPDU(nil, th[:], nil))
	f.Add([]byte{0xff, 0xff, 0x01, 0x43, 0, 0})
	putUntaggedInv(uh[:], opSendInv, true, qnSend, 1, 0, 0x100)
	f.Add(appendFPDU(nil, uh[:untaggedHdrSize], []byte("x")))
	putTagged(th[:], opAtomicWrite, true, 0x100, 0)
	f.Add(appendFPDU(nil, th[:], make([]byte, 8)))
	var fh [untaggedHdrSize + flushReqSize]byte
	putUntagged(fh[:], opFlushReq, true, qnReadReq, 1, 0)
	(&taggedBuf{stag: 0x100, size: 8}).put(fh[untaggedHdrSize:])
	f.Add(appendFPDU(nil, fh[:], nil))
	putTagged(th[:], opFlushResp, true, 0x100, 0)
	f.Add(appendFPDU(nil, th[:], nil))

	f.Fuzz(func(t *testing.T, b []byte) {
		a, z := net.Pipe()
		defer z.Close()
		go io.Copy(io.Discard, z) // whatever the QP answers
		q := newQP(a, bufio.NewReaderSize(a, rxBufSize), verbs.QPConfig{SendDepth: 4, RecvDepth: 4, MaxReadSize: 1 << 20}, nil, false)
		negotiated{rev: mpaRev2, ext: extAll, peerIRD: 4}.apply(q) // every extension opcode is live
		mr, err := q.pd.register(make([]byte, 4096), regionAccess&^verbs.AccessStable, nopHooks{})
		if err != nil {
			t.Fatal(err)
		}
		defer mr.Deregister()
		if _, err := q.BindMW(mr, 64, 1024, verbs.AccessRemoteWrite|verbs.AccessRemoteAtomic); err != nil {
			t.Fatal(err)
		}
		q.PostRecv(verbs.RecvWR{Local: verbs.SGEOf(mr, 0, 64)})
		q.start()
		z.Write(fixCRCs(b))
		q.Close()
		if q.Err() == nil {
			t.Fatal("no error after close")
		}
	})
}

// fixCRCs rewrites the CRC of every complete FPDU in b.
func fixCRCs(b []byte) []byte {
	var out []byte
	for len(b) >= mpaLenSize+ctrlSize {
		ulen := int(binary.BigEndian.Uint16(b))
		total := mpaLenSize + ulen + padLen(ulen) + crcSize
		if total > len(b) {
			break
		}
		out = appendFPDU(out, b[mpaLenSize:mpaLenSize+ulen], nil)
		b = b[total:]
	}
	return append(out, b...)
}

type nopHooks struct{}

func (nopHooks) Placed(int, int)      {}
func (nopHooks) ReadServed()          {}
func (nopHooks) Flush(int, int) error { return nil }
