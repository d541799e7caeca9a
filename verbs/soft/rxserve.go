package soft

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The receive goroutine answers small Read and FLUSH Requests itself
// (rxServe) rather than waking the send goroutine for each: on a busy
// machine that wake-up was the largest cost left in a 4 KiB RDMA Read or
// Write after system calls. It must never wait on the peer, who may be
// waiting for it to read, so it writes only what the socket's send buffer
// takes at once, as the kernel reports it (SIOCOUTQ against SO_SNDBUF),
// and leaves the rest to the send goroutine.

// fpduOverhead bounds an FPDU's framing: ULPDU_Length, the longest
// header, pad and CRC.
const fpduOverhead = mpaLenSize + untaggedHdrSize + readReqSize + 3 + crcSize

// roomProbe asks the kernel about the socket's send buffer; it belongs
// to the receive goroutine and is set up on first use, so that probing
// allocates nothing.
type roomProbe struct {
	rc     syscall.RawConn // nil: cannot tell
	probe  func(fd uintptr)
	outq   int
	sndbuf int
	err    error
	tried  bool
}

func (p *roomProbe) read(fd uintptr) {
	var err error
	if p.outq, err = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err != nil {
		p.err = err
		return
	}
	p.sndbuf, p.err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
}

// sendRoom returns how many bytes a write can surely add to the socket's
// send buffer without blocking: half the free space, as the kernel
// charges buffers with their overhead. 0 when it cannot tell.
func (q *QP) sendRoom() int {
	p := &q.rx.room
	if !p.tried {
		p.tried = true
		if sc, ok := q.conn.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				p.rc, p.probe = rc, p.read
			}
		}
	}
	if p.rc == nil {
		return 0
	}
	p.err = nil
	if err := p.rc.Control(p.probe); err != nil || p.err != nil {
		return 0
	}
	return max(0, (p.sndbuf-2*p.outq)/2)
}

// rxServe sends the answers queued in the IRQ from the receive goroutine
// when the sender is idle and the socket has room for them, and wakes
// the send goroutine for whatever is left.
func (q *QP) rxServe() {
	if !q.txMu.TryLock() {
		q.kick()
		return
	}
	if q.txEnded {
		q.txMu.Unlock()
		return
	}
	q.tx.budget = q.sendRoom()
	deferred, err := q.drainLocked(txReceiver)
	q.tx.budget = 0
	q.txMu.Unlock()
	if err != nil {
		q.fail(err)
		return
	}
	if deferred {
		q.kick()
	}
}
