package soft

import (
	"errors"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// txState is owned by whoever holds QP.txMu (the send goroutine, or a
// poster transmitting small messages itself): the header of the FPDU being
// framed, the cork of small FPDUs not yet written, the batch of
// large ones and the outbound MSNs.
type txState struct {
	hdr     [mpaLenSize + untaggedHdrSize + readReqSize]byte
	term    [maxTermSize]byte
	cork    txCork
	batch   txBatch
	sendMSN uint32
	readMSN uint32
	termMSN uint32
	budget  int // txReceiver: bytes the socket takes without blocking
	// deadline is the socket's write deadline as transmit last set it.
	deadline time.Time
}

// txLoop transmits queued Read Responses, the send queue, completion
// fences and a final Terminate. The MPA responder first waits for the
// initiator's first FPDU (RFC 5044 §7.1.2).
func (q *QP) txLoop() {
	defer func() {
		q.txMu.Lock() // wait for a poster transmitting
		q.txEnded = true
		q.txMu.Unlock()
		close(q.txDone)
	}()
	if q.passive {
		select {
		case <-q.firstRx:
		case <-q.closing:
			return
		}
	}
	for {
		select {
		case <-q.wake:
		case <-q.closing:
			return
		}
		q.txMu.Lock()
		_, err := q.drainLocked(txSender)
		q.txMu.Unlock()
		if err != nil {
			q.fail(err)
			return
		}
	}
}

// txInline transmits what the send queue holds from the poster's
// goroutine when nobody else is transmitting and the work is small,
// saving the wake-up of the send goroutine (a futex wake, a large share
// of a 4 KiB operation's cost); otherwise, or for the first large message
// met, it wakes the send goroutine. A small write seldom blocks (the
// socket buffer takes it) and never for longer than stallTimeout. The
// receive goroutine has its own, stricter rule (rxServe).
func (q *QP) txInline() {
	if !q.started.Load() || !q.txMu.TryLock() {
		q.kick()
		return
	}
	if q.txEnded {
		q.txMu.Unlock()
		return
	}
	select {
	case <-q.firstRx:
	default: // the MPA responder must wait for the first FPDU
		q.txMu.Unlock()
		q.kick()
		return
	}
	deferred, err := q.drainLocked(txPoster)
	q.txMu.Unlock()
	q.handOff(deferred, err)
}

// txMode says who transmits: what txStep may send.
type txMode int

const (
	txSender   txMode = iota // the send goroutine: everything
	txPoster                 // a poster (txInline): messages up to corkMax
	txReceiver               // the receive goroutine (rxServe): answers to Read and FLUSH Requests, within q.tx.budget
)

// drainLocked sends until nothing is left (or, for a poster or the
// receiver, until something it may not send is next: deferred), then
// writes the cork. q.txMu is held.
func (q *QP) drainLocked(mode txMode) (deferred bool, err error) {
	for {
		more, deferred, err := q.txStep(mode)
		if err != nil {
			q.dropCork() // the QP fails: release the region
			return false, err
		}
		if deferred || !more {
			return deferred, q.flushCork()
		}
	}
}

// handOff follows a poster's or the receiver's drainLocked: the QP fails
// on err, and the send goroutine is woken for what was left to it.
func (q *QP) handOff(deferred bool, err error) {
	if err != nil {
		q.fail(err)
		return
	}
	if deferred {
		q.kick()
	}
}

// txStep sends one message and says whether there may be more to send.
// It reports deferred when the next message is not mode's to send. First
// come the answers to the peer's Read and FLUSH Requests (they precede
// any fault found since), then a Terminate, the RTR, the send queue and
// a completion fence. The tx* methods it hands over to are called with
// q.mu held and release it before they transmit.
func (q *QP) txStep(mode txMode) (more, deferred bool, err error) {
	q.mu.Lock()
	switch {
	case q.txStop: // a Terminate went out: nothing follows it
	case q.irqHead < q.irqTail:
		return q.txAnswer(mode)
	case mode == txReceiver:
		other := q.term != nil || q.rtr || q.sqTx < q.sqTail || q.fenceDueLocked()
		q.mu.Unlock()
		return false, other, nil
	case q.term != nil:
		return q.txTerminate(mode)
	case q.broken: // failing: no new requests
	case q.rtr:
		// RFC 6581 peer-to-peer mode: a zero-length Read is the RTR,
		// the first FPDU; its Response confirms nothing.
		q.rtr = false
		return true, false, q.txFence(0)
	case q.sqTx < q.sqTail:
		return q.txSQ(mode)
	case q.fenceDueLocked() && !q.ordFullLocked():
		// Completion fence: a zero-length Read whose Response confirms
		// every Send/Write before it.
		q.clearFenceLocked()
		return true, false, q.txFence(q.sqTx)
	}
	q.mu.Unlock()
	return false, false, nil
}

// txAnswer sends the oldest queued answer to a Read or FLUSH Request,
// unless mode may not send it: a poster and the receiver send Read
// Responses of up to corkMax bytes, the receiver within q.tx.budget.
// Called with q.mu held, which it releases.
func (q *QP) txAnswer(mode txMode) (more, deferred bool, err error) {
	r := q.irq[q.irqHead%uint64(len(q.irq))]
	if mode != txSender && !r.flush && r.rr.sink.size > corkMax {
		q.mu.Unlock()
		return false, true, nil
	}
	if mode == txReceiver {
		cost := fpduOverhead
		if !r.flush {
			cost += int(r.rr.sink.size)
		}
		if cost > q.tx.budget {
			q.mu.Unlock()
			return false, true, nil
		}
		q.tx.budget -= cost
	}
	q.irqHead++
	q.mu.Unlock()
	return true, false, q.serveRead(r)
}

// txTerminate writes the Terminate the receiver asked for; only the send
// goroutine does. Called with q.mu held, which it releases.
func (q *QP) txTerminate(mode txMode) (more, deferred bool, err error) {
	if mode != txSender {
		q.mu.Unlock()
		return false, true, nil
	}
	t := q.term
	q.term = nil
	q.txStop = true
	q.mu.Unlock()
	q.writeTerminate(t) // best effort: the QP is failing anyway
	close(q.termSent)
	return false, false, nil
}

// txFence sends a zero-length Read whose Response confirms every send
// request below seq: the RTR (seq 0) or a completion fence. Called with
// q.mu held, which it releases.
func (q *QP) txFence(seq uint64) error {
	msn := q.tx.readMSN
	q.tx.readMSN++
	q.pushORQLocked(orqe{seq: seq, fence: true})
	q.mu.Unlock()
	return q.sendReadReq(readReq{}, msn)
}

// txSQ sends the next send queue entry, unless a Read or FLUSH must wait
// for the peer's IRD or a poster meets a message larger than corkMax.
// Called with q.mu held, which it releases.
func (q *QP) txSQ(mode txMode) (more, deferred bool, err error) {
	seq := q.sqTx
	e := &q.sq[seq%uint64(len(q.sq))]
	request := e.wr.Op == verbs.OpRead || e.wr.Op == verbs.OpFlush
	if request && q.ordFullLocked() {
		q.mu.Unlock()
		return false, false, nil // a Read Response will kick us
	}
	if mode != txSender && !request && e.wr.Local.Length > corkMax {
		q.mu.Unlock()
		return false, true, nil
	}
	q.sqTx++
	err = q.txWR(seq, e)
	if errors.Is(err, errLocalRevoked) {
		q.mu.Lock()
		q.setFaultLocked(seq, verbs.StatusLocalProt, false)
		q.mu.Unlock()
	}
	return true, false, err
}

// txWR transmits send queue entry seq, e. In one dispatch on the opcode
// it numbers the message on its queue, records what its completion waits
// for (a Send or Write the next fence, a Read or FLUSH its response),
// copies the entry (a completion may clear it once q.mu is released),
// releases q.mu and transmits. Called with q.mu held.
func (q *QP) txWR(seq uint64, e *sqe) error {
	switch e.wr.Op {
	case verbs.OpSend:
		return q.txSendWR(e, opSend, 0)
	case verbs.OpSendInv:
		return q.txSendWR(e, opSendInv, e.wr.InvalidateRKey)
	case verbs.OpWrite:
		q.unfenced = true
		w := *e
		q.mu.Unlock()
		return q.sendWrite(w.mr, w.off, int(w.wr.Local.Length), w.wr.RKey, w.wr.Remote)
	case verbs.OpAtomicWrite:
		q.unfenced = true
		w := *e
		q.mu.Unlock()
		return q.sendAtomic(w.mr, w.off, w.wr.RKey, w.wr.Remote)
	case verbs.OpRead:
		e.msn = q.tx.readMSN
		q.tx.readMSN++
		q.pushORQLocked(orqe{seq: seq, stag: e.wr.Local.LKey, to: e.wr.Local.Addr,
			size: e.wr.Local.Length, mr: e.mr, off: e.off})
		q.clearFenceLocked()
		w := *e
		q.mu.Unlock()
		return q.sendReadReq(readReq{sink: taggedBuf{stag: w.wr.Local.LKey, to: w.wr.Local.Addr,
			size: w.wr.Local.Length}, srcSTag: w.wr.RKey, srcTO: w.wr.Remote}, w.msn)
	case verbs.OpFlush:
		e.msn = q.tx.readMSN
		q.tx.readMSN++
		q.pushORQLocked(orqe{seq: seq, flush: true, stag: e.wr.RKey, to: e.wr.Remote})
		q.clearFenceLocked()
		w := *e
		q.mu.Unlock()
		return q.sendFlushReq(taggedBuf{stag: w.wr.RKey, to: w.wr.Remote, size: w.wr.Local.Length}, w.msn)
	}
	q.mu.Unlock() // not reached: PostSend admits the opcodes above only
	return nil
}

// txSendWR is txWR for a Send (op opSend) or Send with Invalidate of inv
// (opSendInv) on queue 0.
func (q *QP) txSendWR(e *sqe, op uint8, inv uint32) error {
	e.msn = q.tx.sendMSN
	q.tx.sendMSN++
	q.lazySends = true
	w := *e
	q.mu.Unlock()
	return q.sendSend(w.mr, w.off, int(w.wr.Local.Length), w.msn, op, inv)
}

// fenceDueLocked says whether a completion fence should go out: Writes
// are unconfirmed, or Sends are and the send CQ was found empty.
func (q *QP) fenceDueLocked() bool {
	return q.unfenced || (q.lazySends && q.fenceWanted)
}

// clearFenceLocked records that a Read (or fence) went out: its Response
// confirms every Send and Write before it.
func (q *QP) clearFenceLocked() {
	q.unfenced, q.lazySends, q.fenceWanted = false, false, false
}

// pushORQLocked records an outstanding Read before its request goes out.
// The ORQ holds at most SendDepth Reads and SendDepth fences (a fence
// always covers at least one outstanding Send/Write), so it cannot fill.
func (q *QP) pushORQLocked(e orqe) {
	q.orq[q.orqTail%uint64(len(q.orq))] = e
	q.orqTail++
}

// ordFullLocked reports whether the peer's announced IRD (RFC 6581) is
// used up by our outstanding Reads, FLUSHes and fences; if so the sender
// waits and the next response kicks it (ordDoneLocked).
func (q *QP) ordFullLocked() bool {
	full := q.peerIRD > 0 && q.orqTail-q.orqHead >= q.peerIRD
	q.ordWait = q.ordWait || full
	return full
}

// ordDoneLocked is called when a response retired an outstanding request:
// it says whether the sender waits for that.
func (q *QP) ordDoneLocked() bool {
	w := q.ordWait
	q.ordWait = false
	return w
}

// sendWrite sends an RDMA Write from local memory, one FPDU per
// maxSegPayload, a batch of FPDUs per writev, holding the region's read
// lock per batch only.
func (q *QP) sendWrite(m *mr, off, n int, stag uint32, to uint64) error {
	return q.sendSegments(m, off, n, func(hdr []byte, sent int, last bool) {
		putTagged(hdr[mpaLenSize:], opWrite, last, stag, to+uint64(sent))
	}, taggedHdrSize)
}

// sendSend sends an untagged Send (or Send with Invalidate of inv) on
// queue 0.
func (q *QP) sendSend(m *mr, off, n int, msn uint32, op uint8, inv uint32) error {
	return q.sendSegments(m, off, n, func(hdr []byte, sent int, last bool) {
		putUntaggedInv(hdr[mpaLenSize:], op, last, qnSend, msn, uint32(sent), inv)
	}, untaggedHdrSize)
}

// sendReadReq sends an RDMA Read Request on queue 1.
func (q *QP) sendReadReq(r readReq, msn uint32) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize+readReqSize]
	putUntagged(hdr[mpaLenSize:], opReadReq, true, qnReadReq, msn, 0)
	r.put(hdr[mpaLenSize+untaggedHdrSize:])
	return q.corkFPDU(hdr, nil, nil)
}

// txFault handles a fault found while transmitting: it is earlier in the
// stream than anything the receiver may have found since, so its
// Terminate goes out now and replaces a pending one.
func (q *QP) txFault(t *termMsg, err error) {
	q.mu.Lock()
	if !q.broken {
		q.broken = true
		q.err = err
	}
	q.term = nil
	stopped := q.txStop
	q.txStop = true
	q.mu.Unlock()
	q.writeTerminate(t)
	if !stopped {
		close(q.termSent)
	}
	q.dying.Store(true)
	q.conn.SetReadDeadline(time.Now().Add(termTimeout))
}

// writeTerminate sends a Terminate on queue 2, after the corked FPDUs
// that precede it.
func (q *QP) writeTerminate(t *termMsg) error {
	hdr := q.tx.hdr[:mpaLenSize+untaggedHdrSize]
	putUntagged(hdr[mpaLenSize:], opTerminate, true, qnTerminate, q.tx.termMSN, 0)
	q.tx.termMSN++
	if err := q.corkFPDU(hdr, t.appendPayload(q.tx.term[:0]), nil); err != nil {
		return err
	}
	return q.flushCork()
}
