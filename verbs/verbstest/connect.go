package verbstest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// Private data limits every provider meets: rdma_cm carries 56 bytes with
// a connect request, 196 with an accept and 148 with a reject, but
// InfiniBand and RoCE pad private data to the full field, so a provider
// that must deliver the sender's exact length (verbs/ibverbs) spends one
// byte on it. The suite asks for what is left.
const (
	maxConnectPD = 55
	maxAcceptPD  = 195
	maxRejectPD  = 147
)

func (s *suite) testConnect(t *testing.T) {
	tests := []struct {
		name      string
		req, resp []byte
	}{
		{"small", []byte("hello"), []byte("welcome")},
		{"empty", nil, nil},
		{"max", bytes.Repeat([]byte{0xa5}, maxConnectPD), bytes.Repeat([]byte{0x5a}, maxAcceptPD)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.env(t)
			type res struct {
				qp  verbs.QP
				req []byte
				err error
			}
			ch := make(chan res, 1)
			go func() {
				cr, err := e.ln.Accept(e.ctx)
				if err != nil {
					ch <- res{err: err}
					return
				}
				req := bytes.Clone(cr.PrivateData())
				if cr.RemoteAddr() == "" {
					ch <- res{err: errors.New("connection request without a remote address")}
					return
				}
				// A receive posted by prepare is in place before the
				// peer learns the connection is up.
				prepare := func(q verbs.QP) error {
					r := e.region(q.PD(), 64, verbs.AccessLocalWrite)
					return q.PostRecv(verbs.RecvWR{ID: 77, Local: r.sge(0, 64)})
				}
				qp, err := cr.Accept(verbs.QPConfig{}, tc.resp, prepare)
				ch <- res{qp, req, err}
			}()
			c, err := s.dial.Dial(e.ctx, e.ln.Addr(), verbs.QPConfig{}, tc.req)
			r := <-ch
			e.adopt(c, r.qp, err, r.err)
			if !bytes.Equal(r.req, tc.req) || !bytes.Equal(r.qp.PrivateData(), tc.req) {
				t.Fatalf("request private data arrived as %x / %x, want %x", r.req, r.qp.PrivateData(), tc.req)
			}
			if !bytes.Equal(c.PrivateData(), tc.resp) {
				t.Fatalf("accept private data arrived as %x, want %x", c.PrivateData(), tc.resp)
			}
			if c.PD() == r.qp.PD() {
				t.Fatal("both ends share a protection domain")
			}
			if c.RemoteAddr() == "" || r.qp.RemoteAddr() == "" {
				t.Fatal("queue pair without a remote address")
			}
			src := e.region(c.PD(), 64, 0)
			copy(src.buf, "first")
			e.post(c, verbs.SendWR{ID: 5, Op: verbs.OpSend, Local: src.sge(0, 5)})
			e.want(e.waitN(c.SendCQ(), 1), []uint64{5}, verbs.StatusSuccess)
			wc := e.waitN(r.qp.RecvCQ(), 1)[0]
			if wc.ID != 77 || wc.Status != verbs.StatusSuccess || wc.ByteLen != 5 || wc.Op != verbs.OpRecv {
				t.Fatalf("receive posted in prepare completed as %+v", wc)
			}
		})
	}
}

func (s *suite) testReject(t *testing.T) {
	for _, pd := range [][]byte{[]byte("go away"), nil, bytes.Repeat([]byte{3}, maxRejectPD)} {
		e := s.env(t)
		errc := make(chan error, 1)
		go func() {
			cr, err := e.ln.Accept(e.ctx)
			if err != nil {
				errc <- err
				return
			}
			errc <- cr.Reject(pd)
		}()
		q, err := s.dial.Dial(e.ctx, e.ln.Addr(), verbs.QPConfig{}, []byte("let me in"))
		if aerr := <-errc; aerr != nil {
			t.Fatalf("reject: %v", aerr)
		}
		if q != nil {
			q.Close()
			t.Fatal("dial succeeded against a rejecting listener")
		}
		var rej *verbs.RejectedError
		if !errors.Is(err, verbs.ErrRejected) || !errors.As(err, &rej) {
			t.Fatalf("dial: %v, want a *verbs.RejectedError", err)
		}
		if !bytes.Equal(rej.PrivateData, pd) {
			t.Fatalf("reject private data %x, want %x", rej.PrivateData, pd)
		}
		// The listener goes on serving.
		e.connect(verbs.QPConfig{}, verbs.QPConfig{}, nil)
	}
}
