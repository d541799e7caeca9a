package soft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/brick-storage/brick/internal/crc32c"
	"github.com/brick-storage/brick/verbs"
)

// Corking. Small FPDUs (a 4 KiB Write and the completion fence behind it,
// a Read Response and the Read Request that follows) are framed into a
// cork and written together when the sender runs out of work, or the cork
// fills: one system call where each FPDU cost one. On loopback a write is
// the costliest step of a small operation, since it runs the receiver's
// TCP input too. The payload of a Write or Send stays zero-copy: the cork
// holds the read lock of at most one region, whose payload it points into,
// until it is written. A Read Response's payload is a copy (stage.go).
const (
	// corkMax: payloads up to this many bytes are corked; longer ones
	// go in a txBatch of their own.
	corkMax = 4096
	// corkFPDUs bounds the FPDUs of one cork.
	corkFPDUs = 8
)

// txCork is the small FPDUs gathered for one writev.
type txCork struct {
	hdrs  [corkFPDUs][mpaLenSize + untaggedHdrSize + readReqSize]byte
	trls  [corkFPDUs][3 + crcSize]byte
	iov   [3 * corkFPDUs][]byte
	bufs  net.Buffers
	n     int     // FPDUs gathered
	m     *mr     // region whose read lock the cork holds (a payload points into it)
	stage *[]byte // staged payloads (corkStaged), corkMax bytes an FPDU
}

// fpduBatch bounds the FPDUs of one message gathered into one writev:
// 16 × 64 KiB is 1 MiB and 48 iovecs. One system call per FPDU would be
// the software RNIC's largest cost. A Write's or Send's batch keeps its
// payloads zero-copy (the iovecs point into registered memory) while the
// region's read lock is held for the batch, which also bounds how long a
// Deregister waits; a Read Response's batch points into staged copies.
const fpduBatch = 16

// txBatch is the FPDUs of one batch: headers and trailers live here, the
// payload iovecs point into registered memory or staging buffers.
type txBatch struct {
	hdrs [fpduBatch][mpaLenSize + untaggedHdrSize]byte
	trls [fpduBatch][3 + crcSize]byte
	iov  [3 * fpduBatch][]byte
	bufs net.Buffers
	n    int // FPDUs gathered
	// stages are the staging buffers of staged FPDUs (addStaged), one
	// an FPDU, returned when the batch is written.
	stages [fpduBatch]*[]byte
	noCRC  bool // the connection's QP.noCRC
}

// nextHdr returns the header buffer of the batch's next FPDU, size bytes
// including the ULPDU_Length field.
func (b *txBatch) nextHdr(size int) []byte { return b.hdrs[b.n][:size] }

// full reports whether the batch holds fpduBatch FPDUs.
func (b *txBatch) full() bool { return b.n == fpduBatch }

// add frames the FPDU whose header nextHdr returned with payload, CRC and
// all, into the batch.
func (b *txBatch) add(hdr, payload []byte) {
	trl := b.trls[b.n][:]
	t := frameTrailer(hdr, payload, trl, b.noCRC)
	b.iov[3*b.n], b.iov[3*b.n+1], b.iov[3*b.n+2] = hdr, payload, t
	b.n++
}

// addStaged is add for a payload of target memory, which may change under
// us (stage.go): the batch frames a private copy of it.
func (b *txBatch) addStaged(hdr, payload []byte) {
	b.stages[b.n] = segStages.get()
	p := (*b.stages[b.n])[:len(payload)]
	t := frameStaged(hdr, payload, p, b.trls[b.n][:], b.noCRC)
	b.iov[3*b.n], b.iov[3*b.n+1], b.iov[3*b.n+2] = hdr, p, t
	b.n++
}

// unstage returns the batch's staging buffers: it has been written, or
// will not be.
func (b *txBatch) unstage() {
	for i, s := range b.stages {
		if s != nil {
			segStages.put(s)
			b.stages[i] = nil
		}
	}
}

// flush writes the batch with one writev (q.transmit) and empties it.
func (b *txBatch) flush(q *QP) error {
	if b.n == 0 {
		return nil
	}
	b.bufs = b.iov[:3*b.n]
	err := q.transmit(&b.bufs)
	clear(b.iov[:3*b.n]) // drop references to registered memory
	b.n = 0
	b.unstage()
	return err
}

// corkFPDU frames hdr (which starts with two bytes for ULPDU_Length) and
// payload as one FPDU into the cork, writing the cork first if it is full.
// The header is copied; the payload must stay valid until the cork is
// written: payload of region m (non-nil) is, as the caller hands the cork
// m's read lock, which it took after uncork.
func (q *QP) corkFPDU(hdr, payload []byte, m *mr) error {
	c := &q.tx.cork
	if c.n == corkFPDUs {
		if err := q.flushCork(); err != nil {
			if m != nil {
				m.mu.RUnlock()
			}
			return err
		}
	}
	h := c.hdrs[c.n][:len(hdr)]
	copy(h, hdr)
	trl := frameTrailer(h, payload, c.trls[c.n][:], q.noCRC)
	c.iov[3*c.n], c.iov[3*c.n+1], c.iov[3*c.n+2] = h, payload, trl
	c.n++
	if m != nil {
		c.m = m
	}
	return nil
}

// corkRoom writes the cork if it is full.
func (q *QP) corkRoom() error {
	if q.tx.cork.n < corkFPDUs {
		return nil
	}
	return q.flushCork()
}

// corkStaged corks an FPDU whose payload is target memory, which may
// change under us (stage.go): the cork frames a private copy of it, and
// the caller may release the region at once. The caller, holding the
// region's read lock, has made room (corkRoom): a full cork would be
// written under it, and a Deregister wait on the peer.
func (q *QP) corkStaged(hdr, payload []byte) error {
	if err := q.corkRoom(); err != nil {
		return err
	}
	c := &q.tx.cork
	if c.stage == nil {
		c.stage = corkStages.get()
	}
	p := (*c.stage)[c.n*corkMax:][:len(payload)]
	copy(p, payload)
	return q.corkFPDU(hdr, p, nil)
}

// uncork writes the cork if it holds a region's read lock: it must,
// before the sender takes another one (a read lock taken twice deadlocks
// against a Deregister waiting in between) or writes a batch.
func (q *QP) uncork() error {
	if q.tx.cork.m == nil {
		return nil
	}
	return q.flushCork()
}

// dropCork empties the cork without writing it.
func (q *QP) dropCork() {
	c := &q.tx.cork
	c.emptied()
}

// emptied releases what the cork's written or dropped FPDUs held: the
// region whose read lock it has and its staging buffer.
func (c *txCork) emptied() {
	clear(c.iov[:3*c.n])
	c.n = 0
	if c.m != nil {
		c.m.mu.RUnlock()
		c.m = nil
	}
	if c.stage != nil {
		corkStages.put(c.stage)
		c.stage = nil
	}
}

// flushCork writes the corked FPDUs and releases the region they point
// into.
func (q *QP) flushCork() error {
	c := &q.tx.cork
	if c.n == 0 {
		return nil
	}
	c.bufs = c.iov[:3*c.n]
	err := q.transmit(&c.bufs)
	c.emptied()
	return err
}

// transmit writes bufs within stallTimeout (less at most an eighth of it:
// the deadline is moved only when that much of it has gone, since setting
// it costs a timer update, about 1% of the CPU of small messages).
func (q *QP) transmit(bufs *net.Buffers) error {
	if now := time.Now(); q.tx.deadline.Sub(now) < stallTimeout-stallTimeout/8 {
		q.tx.deadline = now.Add(stallTimeout)
		q.conn.SetWriteDeadline(q.tx.deadline)
	}
	sent, err := bufs.WriteTo(q.conn)
	if err == nil {
		return nil // no net.Error to escape to the heap: no allocation
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("soft: the peer took %d bytes in %v, then nothing (%v): %w", sent, stallTimeout, err, verbs.ErrStalled)
		// Recorded now, while the caller still holds the region lock:
		// what the receiver finds once the region is revoked is a
		// consequence.
		q.mu.Lock()
		if !q.broken {
			q.broken, q.err = true, err
		}
		q.mu.Unlock()
	}
	return err
}

// frameTrailer fills hdr's ULPDU_Length and returns the pad and CRC that
// follow payload, built in trl. On a connection without the MPA CRC
// (noCRC) nothing is checksummed and the CRC field is zero, as Linux siw
// sends it then.
func frameTrailer(hdr, payload, trl []byte, noCRC bool) []byte {
	ulen := frameHeader(hdr, len(payload))
	if noCRC {
		return finishTrailer(0, ulen, trl, noCRC)
	}
	crc := crc32c.Update(crc32c.Update(0, hdr), payload)
	return finishTrailer(crc, ulen, trl, noCRC)
}

// frameStaged is frameTrailer for a payload of target memory (stage.go):
// it copies payload into stage as it checksums the bytes, so that the
// CRC is of the copy, which the FPDU then carries.
func frameStaged(hdr, payload, stage, trl []byte, noCRC bool) []byte {
	ulen := frameHeader(hdr, len(payload))
	if noCRC {
		copy(stage, payload)
		return finishTrailer(0, ulen, trl, noCRC)
	}
	crc := crc32c.CopyUpdate(crc32c.Update(0, hdr), stage, payload)
	return finishTrailer(crc, ulen, trl, noCRC)
}

// frameHeader fills hdr's ULPDU_Length for a payload of plen bytes and
// returns it.
func frameHeader(hdr []byte, plen int) int {
	ulen := len(hdr) - mpaLenSize + plen
	binary.BigEndian.PutUint16(hdr, uint16(ulen))
	return ulen
}

// finishTrailer builds in trl the pad and CRC that end an FPDU of ulen
// bytes whose CRC so far is crc (0, and left so, with noCRC).
func finishTrailer(crc uint32, ulen int, trl []byte, noCRC bool) []byte {
	pad := padLen(ulen)
	clear(trl[:pad])
	if !noCRC {
		crc = crc32c.Update(crc, trl[:pad])
	}
	binary.LittleEndian.PutUint32(trl[pad:], crc)
	return trl[:pad+crcSize]
}

// sendSegments sends n bytes at off of local region m as FPDUs whose
// headers (hdrSize bytes after ULPDU_Length) put fills in, batched.
func (q *QP) sendSegments(m *mr, off, n int, put func(hdr []byte, sent int, last bool), hdrSize int) error {
	if err := q.uncork(); err != nil {
		return err
	}
	if n <= corkMax {
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			return errLocalRevoked
		}
		hdr := q.tx.hdr[:mpaLenSize+hdrSize]
		put(hdr, 0, true)
		return q.corkFPDU(hdr, m.buf[off:off+n], m)
	}
	if err := q.flushCork(); err != nil { // what precedes the batch
		return err
	}
	b := &q.tx.batch
	for sent := 0; ; {
		m.mu.RLock()
		if m.dead {
			m.mu.RUnlock()
			return errLocalRevoked
		}
		last := false
		for !last && !b.full() {
			k := min(n-sent, maxSegPayload)
			last = sent+k == n
			hdr := b.nextHdr(mpaLenSize + hdrSize)
			put(hdr, sent, last)
			b.add(hdr, m.buf[off+sent:off+sent+k])
			sent += k
		}
		err := b.flush(q)
		m.mu.RUnlock()
		if err != nil || last {
			return err
		}
	}
}
