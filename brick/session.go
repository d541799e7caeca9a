package brick

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// session is one connection: one queue pair, one protection domain, and the
// maps made through it. Its requests are served in order by one goroutine.
type session struct {
	id  uint64
	srv *Server
	qp  verbs.QP
	log *slog.Logger

	// recv and send are registered slabs of depth message slots each.
	recvMem, sendMem []byte
	recvMR, sendMR   verbs.MR
	freeSend         []int // free send slots; owned by the session goroutine

	// maps are this session's live maps by block ID; guarded by srv.mu.
	maps map[uint64]*mapping
}

// serveConn answers one connection request and, if it is accepted, serves
// the session until it ends.
func (s *Server) serveConn(req verbs.ConnRequest) {
	log := s.log.With("peer", req.RemoteAddr())
	var hello protocol.HelloRequest
	if err := hello.Unmarshal(req.PrivateData()); err != nil {
		log.Warn("rejecting connection: bad hello", "err", err)
		s.reject(req, protocol.StatusProtocol)
		return
	}
	if hello.MinVersion > protocol.Version || hello.MaxVersion < protocol.Version {
		log.Warn("rejecting connection: no common protocol version", "min", hello.MinVersion, "max", hello.MaxVersion)
		s.reject(req, protocol.StatusNotSupported)
		return
	}
	ss := &session{id: s.nextSession.Add(1), srv: s, maps: make(map[uint64]*mapping)}
	ss.log = log.With("session", ss.id)
	if err := s.addSession(ss); err != nil {
		log.Warn("rejecting connection", "err", err)
		s.reject(req, protocol.StatusOf(err))
		return
	}
	defer s.removeSession(ss)

	reply := protocol.HelloReply{
		Version:    protocol.Version,
		RecvDepth:  uint16(s.depth),
		MaxMessage: protocol.MaxMessage,
		Features:   hello.Features & s.features(),
		UUID:       s.region.UUID(),
		FrameSize:  pmem.FrameSize,
		Frames:     s.region.Frames(),
		SessionID:  ss.id,
	}
	cfg := verbs.QPConfig{SendDepth: s.depth, RecvDepth: s.depth}
	// prepare sets ss.qp before the peer can send anything.
	if _, err := req.Accept(cfg, reply.Marshal(), ss.prepare); err != nil {
		ss.freeBuffers()
		log.Warn("accept failed", "err", err)
		return
	}
	ss.log.Info("session started")
	s.metrics.sessionStarted()
	err := ss.run()
	ss.end()
	s.metrics.sessionEnded()
	if err != nil {
		ss.log.Warn("session ended", "err", err)
	} else {
		ss.log.Info("session ended")
	}
}

func (s *Server) reject(req verbs.ConnRequest, st protocol.Status) {
	r := protocol.HelloReply{Version: protocol.Version, Status: st, UUID: s.region.UUID()}
	if err := req.Reject(r.Marshal()); err != nil {
		s.log.Debug("reject", "err", err)
	}
}

func (s *Server) features() uint64 {
	if s.method == protocol.PersistGPSPM {
		return protocol.FeatureGPSPM
	}
	return 0
}

func (s *Server) addSession(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return fmt.Errorf("%w: the brick is shutting down", protocol.ErrLimit)
	}
	if len(s.mu.sessions) >= s.maxSess {
		return fmt.Errorf("%w: %d sessions already", protocol.ErrLimit, s.maxSess)
	}
	s.mu.sessions[ss.id] = ss
	return nil
}

func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	delete(s.mu.sessions, ss.id)
	s.mu.Unlock()
}

// prepare registers the session's message buffers and posts every receive
// before the peer learns the connection is up.
func (ss *session) prepare(qp verbs.QP) error {
	ss.qp = qp
	depth := ss.srv.depth
	var err error
	if ss.recvMem, err = verbs.AllocMemory(depth * protocol.MaxMessage); err != nil {
		return err
	}
	if ss.sendMem, err = verbs.AllocMemory(depth * protocol.MaxMessage); err != nil {
		return err
	}
	if ss.recvMR, err = qp.PD().Register(ss.recvMem, verbs.AccessLocalWrite); err != nil {
		return err
	}
	if ss.sendMR, err = qp.PD().Register(ss.sendMem, 0); err != nil {
		return err
	}
	for i := 0; i < depth; i++ {
		if err := ss.postRecv(i); err != nil {
			return err
		}
		ss.freeSend = append(ss.freeSend, i)
	}
	return nil
}

func (ss *session) postRecv(slot int) error {
	return ss.qp.PostRecv(verbs.RecvWR{
		ID:    uint64(slot),
		Local: verbs.SGEOf(ss.recvMR, slot*protocol.MaxMessage, protocol.MaxMessage),
	})
}

// run serves requests until the connection ends or a peer misbehaves.
func (ss *session) run() error {
	wcs := make([]verbs.WC, ss.srv.depth)
	for {
		n, err := ss.qp.RecvCQ().Wait(context.Background(), wcs)
		if err != nil {
			if errors.Is(err, verbs.ErrClosed) {
				return nil
			}
			return err
		}
		for _, wc := range wcs[:n] {
			if wc.Status == verbs.StatusFlushed {
				return nil
			}
			if err := wc.Err(); err != nil {
				return err
			}
			slot := int(wc.ID)
			frame := ss.recvMem[slot*protocol.MaxMessage:][:wc.ByteLen]
			if err := ss.handleFrame(frame); err != nil {
				return err
			}
			if err := ss.postRecv(slot); err != nil {
				return err
			}
		}
	}
}

// handleFrame decodes one request, serves it and posts the reply. A frame
// that does not decode ends the session: the peer is not speaking the
// protocol, and guessing at its request IDs would only hide that.
func (ss *session) handleFrame(frame []byte) error {
	h, m, err := protocol.Decode(frame)
	if err != nil {
		return fmt.Errorf("malformed frame (%d bytes): %w", len(frame), err)
	}
	if h.Type.IsReply() {
		return fmt.Errorf("%w: peer sent a %s", protocol.ErrProtocol, h.Type)
	}
	reply, err := ss.srv.serve(ss, m)
	st := protocol.StatusOK
	if err != nil {
		st = statusOf(err)
		reply = nil
		if st == protocol.StatusInternal {
			ss.log.Error("verb failed", "verb", h.Type, "err", err)
		} else {
			ss.log.Debug("verb refused", "verb", h.Type, "err", err)
		}
	} else if reply == nil {
		reply = &protocol.EmptyReply{T: h.Type | protocol.ReplyBit}
	}
	return ss.sendReply(h.Type|protocol.ReplyBit, st, h.ReqID, reply)
}

func (ss *session) sendReply(t protocol.Type, st protocol.Status, reqID uint64, m protocol.Message) error {
	slot, err := ss.sendSlot()
	if err != nil {
		return err
	}
	buf := ss.sendMem[slot*protocol.MaxMessage:][:protocol.MaxMessage]
	n, err := protocol.Encode(buf, t, st, reqID, m)
	if err != nil {
		return fmt.Errorf("brick: encode %s: %w", t, err)
	}
	return ss.qp.PostSend(verbs.SendWR{ID: uint64(slot), Op: verbs.OpSend, Local: verbs.SGEOf(ss.sendMR, slot*protocol.MaxMessage, n)})
}

// sendSlot returns a free send buffer, reaping send completions (waiting
// for one if every slot is in flight).
func (ss *session) sendSlot() (int, error) {
	var wcs [8]verbs.WC
	for len(ss.freeSend) == 0 {
		n, err := ss.qp.SendCQ().Wait(context.Background(), wcs[:])
		if err != nil {
			return 0, err
		}
		ss.reap(wcs[:n])
	}
	if n := ss.qp.SendCQ().Poll(wcs[:]); n > 0 {
		ss.reap(wcs[:n])
	}
	slot := ss.freeSend[len(ss.freeSend)-1]
	ss.freeSend = ss.freeSend[:len(ss.freeSend)-1]
	return slot, nil
}

func (ss *session) reap(wcs []verbs.WC) {
	for _, wc := range wcs {
		ss.freeSend = append(ss.freeSend, int(wc.ID))
	}
}

// end revokes every map of the session and releases its resources.
func (ss *session) end() {
	ss.srv.unmapAll(ss)
	ss.qp.Close()
	ss.freeBuffers()
}

func (ss *session) freeBuffers() {
	for _, mr := range []verbs.MR{ss.recvMR, ss.sendMR} {
		if mr != nil {
			mr.Deregister()
		}
	}
	verbs.FreeMemory(ss.recvMem)
	verbs.FreeMemory(ss.sendMem)
	ss.recvMR, ss.sendMR, ss.recvMem, ss.sendMem = nil, nil, nil, nil
}
