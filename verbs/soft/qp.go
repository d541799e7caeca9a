package soft

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// Queue sizing. A zero QPConfig depth means defaultDepth.
const (
	defaultDepth   = 16
	maxSendDepth   = 512  // bounds the peer's Read Requests we must queue
	maxRecvDepth   = 4096 // arbitrary sanity bound
	defaultMaxRead = 2 << 20

	// maxIRD bounds queued inbound Read Requests. A peer of ours has at
	// most SendDepth Reads plus SendDepth completion fences outstanding;
	// more is a protocol violation and terminates the stream.
	maxIRD = 2 * maxSendDepth
	// minIRD is the inbound Read queue's first size (growIRQLocked).
	minIRD = 16

	// rxBufSize is the bufio.Reader size for headers. Payload reads at
	// least this long bypass the buffer and land in registered memory.
	rxBufSize = 4096

	// termTimeout bounds how long a QP that sent a Terminate keeps
	// draining the socket so that the peer reads the Terminate before
	// the connection is torn down.
	termTimeout = time.Second
)

// stallTimeout bounds one transmission (at most fpduBatch FPDUs, about
// 1 MiB): a peer that takes less in this long is stalled, and the QP
// fails. Writes of registered memory hold the region's read lock, which
// Deregister and Invalidate wait for, so without a bound a peer that
// stops reading would hold up revocation (and the brick's Unmap) for as
// long as it likes. A variable so that tests can shorten it.
var stallTimeout = 5 * time.Second

// sqe is a send queue entry.
type sqe struct {
	wr  verbs.SendWR
	mr  *mr // local region of wr.Local
	off int // offset of wr.Local.Addr in mr.buf
	msn uint32
}

// orqe is an outstanding Read Request, a real one or a completion fence.
type orqe struct {
	seq   uint64 // the Read's send sequence; for a fence, the first not covered
	fence bool
	flush bool   // a FLUSH: stag/to are the remote ones its response echoes
	stag  uint32 // sink STag and TO the Read Response must carry
	to    uint64
	size  uint32
	mr    *mr
	off   int
}

// rqe is a posted receive.
type rqe struct {
	wr  verbs.RecvWR
	mr  *mr
	off int
}

// irqe is a queued inbound Read Request, or the answer to a FLUSH that
// was already performed (flush set; rr.srcSTag/srcTO name its range).
type irqe struct {
	rr    readReq
	msn   uint32
	flush bool
}

// QP is a software iWARP queue pair over one TCP connection. It implements
// verbs.QP.
//
// Send-side completions: a Send or Write is complete when the target has
// placed it, which iWARP reports to nobody. The QP therefore holds Send
// and Write completions until a later RDMA Read Response arrives (the
// target serves in order, so that proves every earlier message placed);
// when the send queue runs dry behind Writes it issues a zero-length
// RDMA Read of its own as a completion fence. This lets a remote access
// fault complete the faulting request with StatusRemoteAccess and the rest
// with StatusFlushed, as on InfiniBand, at the cost of one small Read per
// burst of Writes (which is also the usual persistence flush).
//
// Sends alone are fenced on demand: when a Poll (or Wait) finds the send
// CQ empty while Sends wait for confirmation. A request-reply user that
// reaps its send slots only when they run low then pays one fence per
// many messages instead of one per message, and its peer serves one Read
// instead of many (each Read served is a write to the socket of its own).
// A poller still sees every completion: its first empty Poll asks for the
// fence. A Send is only ever confirmed later than before, never earlier.
//
// Errors: a Terminate from the peer, a protocol error, a broken socket or
// Close moves the QP to the error state: PostSend and PostRecv then return
// an error wrapping verbs.ErrClosed, outstanding requests complete with
// StatusFlushed (the faulting one with its own status), both CQs are
// closed after the last completion and Done is closed. Err says why.
type QP struct {
	conn    net.Conn
	br      *bufio.Reader
	pd      *pd
	priv    []byte
	remote  string
	passive bool
	maxRead int
	scq     *cq
	rcq     *cq
	caps    verbs.Caps // negotiated at connection setup, fixed after start
	noCRC   bool       // neither side asked for the MPA CRC (Options.OptionalCRC); fixed after start
	peerIRD uint64     // Reads/FLUSHes the peer queues (0 = not announced)

	mu        sync.Mutex
	broken    bool  // no more posts or transmissions of new requests
	err       error // why the QP left the ready state
	sq        []sqe
	sqHead    uint64 // oldest not completed
	sqTx      uint64 // next to transmit
	sqTail    uint64 // next free
	confirmed uint64 // every sequence below is placed at the target
	unfenced  bool   // Writes transmitted since the last Read: fence now
	// Sends transmitted since the last Read are fenced only once the send
	// CQ is found empty (wantFence): see the QP comment.
	lazySends   bool
	fenceWanted bool
	rtr         bool // RFC 6581: send a zero-length Read RTR first
	ordWait     bool // the sender waits for the peer's IRD (ordFullLocked)
	orq         []orqe
	orqHead     uint64
	orqTail     uint64
	rq          []rqe
	rqHead      uint64
	rqTail      uint64
	irq         []irqe
	irqHead     uint64
	irqTail     uint64
	term        *termMsg // Terminate the sender must put on the wire
	txStop      bool     // a Terminate went out: the sender sends nothing more
	faulted     bool
	faultSeq    uint64
	faultStat   verbs.Status
	faultPeer   bool // reported by a peer Terminate: earlier requests were placed

	started   atomic.Bool
	dying     atomic.Bool // a Terminate went out or is going: discard input
	wake      chan struct{}
	closing   chan struct{}
	done      chan struct{}
	firstRx   chan struct{}
	txDone    chan struct{}
	termSent  chan struct{} // closed once our Terminate is on the wire
	failOnce  sync.Once
	firstOnce sync.Once

	rx rxState // receive goroutine only

	// txMu is held by whoever transmits: the send goroutine, or a poster
	// sending small messages itself (txInline).
	txMu    sync.Mutex
	tx      txState
	txEnded bool // the send goroutine has ended: nobody transmits again
}

var _ verbs.QP = (*QP)(nil)

func normalize(cfg verbs.QPConfig) (verbs.QPConfig, error) {
	if cfg.SendDepth == 0 {
		cfg.SendDepth = defaultDepth
	}
	if cfg.RecvDepth == 0 {
		cfg.RecvDepth = defaultDepth
	}
	if cfg.MaxReadSize == 0 {
		cfg.MaxReadSize = defaultMaxRead
	}
	if cfg.SendDepth < 0 || cfg.SendDepth > maxSendDepth ||
		cfg.RecvDepth < 0 || cfg.RecvDepth > maxRecvDepth || cfg.MaxReadSize < 0 {
		return cfg, fmt.Errorf("%w: queue pair config %+v (depths 1..%d/%d)", verbs.ErrInvalid, cfg, maxSendDepth, maxRecvDepth)
	}
	return cfg, nil
}

func newQP(conn net.Conn, br *bufio.Reader, cfg verbs.QPConfig, priv []byte, passive bool) *QP {
	q := &QP{
		conn:    conn,
		br:      br,
		pd:      newPD(),
		priv:    priv,
		remote:  conn.RemoteAddr().String(),
		passive: passive,
		maxRead: cfg.MaxReadSize,
		scq:     newCQ(cfg.SendDepth),
		rcq:     newCQ(cfg.RecvDepth),
		sq:      make([]sqe, cfg.SendDepth),
		orq:     make([]orqe, 2*cfg.SendDepth),
		rq:      make([]rqe, cfg.RecvDepth),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		firstRx: make(chan struct{}),
		txDone:  make(chan struct{}),

		termSent: make(chan struct{}),
	}
	q.pd.qp = q
	q.scq.onEmpty = q.wantFence
	q.caps.MemoryWindows = true // local binding; Send with Invalidate is RFC 5040
	q.rx.sendMSN, q.rx.readMSN, q.rx.termMSN = 1, 1, 1
	q.tx.sendMSN, q.tx.readMSN, q.tx.termMSN = 1, 1, 1
	if !passive {
		close(q.firstRx) // only the MPA responder waits for the first FPDU
		q.firstOnce.Do(func() {})
	}
	return q
}

// start runs the QP: one goroutine receives, one transmits. Both end when
// the QP fails or closes; the receiver then flushes and closes Done.
func (q *QP) start() {
	q.started.Store(true)
	go q.txLoop()
	go func() {
		err := q.receive()
		q.fail(err)
		<-q.txDone
		q.finish()
	}()
}

// wantFence is the send CQ's onEmpty: Sends transmitted unconfirmed get
// their completion fence now, and Sends still queued get it once they are
// transmitted (the poller may already be asleep on the CQ by then).
func (q *QP) wantFence() {
	q.mu.Lock()
	ask := q.sqHead < q.sqTail && !q.fenceWanted && !q.broken
	if ask {
		q.fenceWanted = true
	}
	q.mu.Unlock()
	if ask {
		q.kick()
	}
}

func (q *QP) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// fail moves the QP to the error state and closes the socket, which ends
// both goroutines. The first error is kept.
func (q *QP) fail(err error) {
	q.failOnce.Do(func() {
		q.mu.Lock()
		q.broken = true
		if q.err == nil {
			q.err = err
		}
		q.mu.Unlock()
		close(q.closing)
		q.conn.Close()
	})
}

// terminate records why the QP fails and has the sender put t on the wire
// (after Read Responses already queued, which precede the fault). The
// receiver then discards input until the peer closes or termTimeout.
func (q *QP) terminate(t *termMsg, err error) {
	q.mu.Lock()
	if !q.broken {
		q.broken = true
		q.err = err
		q.term = t
	}
	q.mu.Unlock()
	q.dying.Store(true)
	q.conn.SetReadDeadline(time.Now().Add(termTimeout))
	q.kick()
}

// setFaultLocked records the request that caused the error.
func (q *QP) setFaultLocked(seq uint64, st verbs.Status, peer bool) {
	if q.faulted || seq < q.sqHead || seq >= q.sqTail {
		return
	}
	q.faulted, q.faultSeq, q.faultStat, q.faultPeer = true, seq, st, peer
}

// completeLocked delivers, in post order, the completions of confirmed
// send requests.
func (q *QP) completeLocked() {
	n := uint64(len(q.sq))
	for q.sqHead < q.confirmed && q.sqHead < q.sqTx {
		e := &q.sq[q.sqHead%n]
		q.scq.push(verbs.WC{ID: e.wr.ID, Op: e.wr.Op})
		*e = sqe{}
		q.sqHead++
	}
}

// finish flushes every outstanding request and closes the CQs and Done.
// It runs once, after both goroutines have ended.
func (q *QP) finish() {
	q.mu.Lock()
	n := uint64(len(q.sq))
	for ; q.sqHead < q.sqTail; q.sqHead++ {
		e := &q.sq[q.sqHead%n]
		st := verbs.StatusFlushed
		if q.faulted {
			switch {
			case q.sqHead == q.faultSeq:
				st = q.faultStat
			case q.sqHead < q.faultSeq && q.faultPeer && q.sqHead < q.sqTx && e.wr.Op != verbs.OpRead && e.wr.Op != verbs.OpFlush:
				st = verbs.StatusSuccess // placed before the fault
			}
		}
		q.scq.push(verbs.WC{ID: e.wr.ID, Op: e.wr.Op, Status: st})
		*e = sqe{}
	}
	if q.rx.recvOn {
		q.rcq.push(verbs.WC{ID: q.rx.recv.wr.ID, Op: verbs.OpRecv, Status: verbs.StatusFlushed})
		q.rx.recvOn = false
	}
	m := uint64(len(q.rq))
	for ; q.rqHead < q.rqTail; q.rqHead++ {
		q.rcq.push(verbs.WC{ID: q.rq[q.rqHead%m].wr.ID, Op: verbs.OpRecv, Status: verbs.StatusFlushed})
		q.rq[q.rqHead%m] = rqe{}
	}
	q.mu.Unlock()
	q.scq.close()
	q.rcq.close()
	close(q.done)
}

// PostSend queues a Send, Send with Invalidate, RDMA Write, RDMA Read,
// ATOMIC WRITE or FLUSH. The local SGE is checked here (lkey of this PD,
// range inside the region, AccessLocalWrite for a Read sink; ATOMIC WRITE
// takes exactly 8 bytes, FLUSH names no local memory); a bad one is an
// error wrapping verbs.ErrInvalid, an extension the peer did not
// negotiate one wrapping verbs.ErrNotSupported. A region deregistered
// after posting completes the request with StatusLocalProt and fails the
// QP. When the sender is idle PostSend transmits small messages itself
// (txInline): with a peer that stopped reading it can then wait up to
// stallTimeout, after which the QP fails with verbs.ErrStalled.
func (q *QP) PostSend(wr verbs.SendWR) error {
	var needWrite bool
	switch wr.Op {
	case verbs.OpSend, verbs.OpWrite, verbs.OpSendInv:
	case verbs.OpRead:
		if int64(wr.Local.Length) > int64(q.maxRead) {
			return fmt.Errorf("%w: read of %d bytes exceeds MaxReadSize %d", verbs.ErrInvalid, wr.Local.Length, q.maxRead)
		}
		needWrite = true
	case verbs.OpAtomicWrite:
		if !q.caps.AtomicWrite {
			return fmt.Errorf("soft: ATOMIC WRITE: %w by the peer", verbs.ErrNotSupported)
		}
		if wr.Local.Length != atomicSize {
			return fmt.Errorf("%w: ATOMIC WRITE of %d bytes, want %d", verbs.ErrInvalid, wr.Local.Length, atomicSize)
		}
	case verbs.OpFlush:
		if !q.caps.Flush {
			return fmt.Errorf("soft: FLUSH: %w by the peer", verbs.ErrNotSupported)
		}
	default:
		return fmt.Errorf("%w: send opcode %v", verbs.ErrInvalid, wr.Op)
	}
	var m *mr
	var off int
	if wr.Op != verbs.OpFlush {
		var err error
		if m, off, err = q.pd.local(wr.Local, needWrite); err != nil {
			return err
		}
	}
	q.mu.Lock()
	if q.broken {
		err := q.err
		q.mu.Unlock()
		return fmt.Errorf("soft: post send: %w (%v)", verbs.ErrClosed, err)
	}
	if q.sqTail-q.sqHead == uint64(len(q.sq)) {
		q.mu.Unlock()
		return fmt.Errorf("soft: post send: %w", verbs.ErrQueueFull)
	}
	q.sq[q.sqTail%uint64(len(q.sq))] = sqe{wr: wr, mr: m, off: off}
	q.sqTail++
	q.mu.Unlock()
	q.txInline()
	return nil
}

// PostRecv queues a receive buffer (AccessLocalWrite required).
func (q *QP) PostRecv(wr verbs.RecvWR) error {
	m, off, err := q.pd.local(wr.Local, true)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.broken {
		return fmt.Errorf("soft: post recv: %w (%v)", verbs.ErrClosed, q.err)
	}
	if q.rqTail-q.rqHead == uint64(len(q.rq)) {
		return fmt.Errorf("soft: post recv: %w", verbs.ErrQueueFull)
	}
	q.rq[q.rqTail%uint64(len(q.rq))] = rqe{wr: wr, mr: m, off: off}
	q.rqTail++
	return nil
}

func (q *QP) PD() verbs.PD          { return q.pd }
func (q *QP) PrivateData() []byte   { return q.priv }
func (q *QP) SendCQ() verbs.CQ      { return q.scq }
func (q *QP) RecvCQ() verbs.CQ      { return q.rcq }
func (q *QP) RemoteAddr() string    { return q.remote }
func (q *QP) Done() <-chan struct{} { return q.done }
func (q *QP) String() string        { return "soft.QP(" + q.remote + ")" }

// Caps reports the optional features of the connection: memory windows
// and Send with Invalidate always; ATOMIC WRITE and FLUSH when both ends
// offered them in the MPA extension header (see doc.go).
func (q *QP) Caps() verbs.Caps { return q.caps }

// Device: the software RNIC places bytes with this process's CPU stores.
func (q *QP) Device() verbs.DeviceInfo { return verbs.DeviceInfo{Name: "soft", Software: true} }

// Err is nil while the QP works and then says why it stopped: a local
// Close (wraps verbs.ErrClosed), a fault it detected or a peer Terminate
// (wrap verbs.ErrRemoteAccess for protection errors), or a socket error.
func (q *QP) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Close disconnects, flushes outstanding requests and waits for the QP's
// goroutines to end. Regions stay registered.
//
// A Terminate the QP owes the peer (a fault found on receive) goes out
// first, within termTimeout: the peer learns why, not just that the
// connection ended.
func (q *QP) Close() error {
	q.mu.Lock()
	owed := q.term != nil && !q.txStop
	q.mu.Unlock()
	if owed && q.started.Load() {
		t := time.NewTimer(termTimeout)
		select {
		case <-q.termSent:
		case <-q.txDone:
		case <-t.C:
		}
		t.Stop()
	}
	q.fail(fmt.Errorf("soft: queue pair closed locally: %w", verbs.ErrClosed))
	if q.started.Load() {
		<-q.done
	}
	return nil
}
