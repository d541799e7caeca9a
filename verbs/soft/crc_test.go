package soft

import (
	"bytes"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// TestOptionalCRC: the MPA CRC is used unless neither side asks for it
// (RFC 5044), and a connection without it moves the same bytes: a Write,
// a Read and a Send, with the CRC fields zero on the wire (unsealLocked).
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

// TestUnseal: on a connection without CRC every trailer's CRC field is
// zeroed before the write, and only that field.
func TestUnseal(t *testing.T) {
	for _, noCRC := range []bool{false, true} {
		q := &QP{noCRC: noCRC}
		trl := []byte{0xaa, 0xaa, 1, 2, 3, 4} // pad of two, then the CRC
		iov := [][]byte{{9}, {8}, trl, {7}, nil, {5, 6, 7, 8}}
		q.unsealLocked(iov)
		want := []byte{0xaa, 0xaa, 1, 2, 3, 4}
		if noCRC {
			want = []byte{0xaa, 0xaa, 0, 0, 0, 0}
		}
		if !bytes.Equal(trl, want) || (noCRC && !bytes.Equal(iov[5], []byte{0, 0, 0, 0})) || iov[0][0] != 9 {
			t.Errorf("no CRC %v: %v", noCRC, iov)
		}
	}
}
