// Package soft is a software RNIC: a pure-Go implementation of verbs that
// speaks iWARP over TCP — MPA framing (RFC 5044), DDP (RFC 5041) and RDMAP
// (RFC 5040) — in the standard wire format, so that Wireshark's iwarp_mpa
// and iwarp_ddp_rdmap dissectors decode it. One TCP connection is one RC
// queue pair.
//
// # Connection setup (RFC 5044 §7.1)
//
// The active side sends an MPA Request, the passive side answers with an
// MPA Reply. Both frames are:
//
//	 0                   1                   2                   3
//	+---------------------------------------------------------------+
//	|  Key: "MPA ID Req Frame" or "MPA ID Rep Frame" (16 bytes)      |
//	+-+-+-+-------+---------------+-------------------------------+
//	|M|C|R| Res   |   Rev = 1     |      PD_Length (<= 512)       |
//	+-+-+-+-------+---------------+-------------------------------+
//	|  Private data (PD_Length bytes)                              |
//	+---------------------------------------------------------------+
//
// We send M=0 (markers are never used, and a peer asking for them is
// refused), C=1 (CRC always on) and R=1 only in a rejecting Reply, whose
// private data reaches the dialer as *verbs.RejectedError. The listener
// negotiates each connection in its own goroutine (bounded by
// verbs.DefaultTimeout and maxHandshakes) before queueing it for Accept
// (Backlog entries). Accept runs prepare, then sends the Reply. Enhanced
// connection setup (RFC 6581) is not implemented, so per RFC 5044 the
// passive side transmits nothing until the first FPDU from the active
// side has arrived: the active side must speak first.
//
// # FPDU (RFC 5044 §4, RFC 5041 §4, RFC 5040 §4)
//
//	+---------------+---------------+---------------+---------------+
//	|  ULPDU_Length (16)            | DDP control   | RDMAP control |
//	+---------------+---------------+---------------+---------------+
//	|  tagged (Write 0, Read Response 2):                           |
//	|    STag (32) | Tagged Offset (64)                  = 14 bytes |
//	|  untagged (Send 3 QN 0, Read Request 1 QN 1, Terminate 7 QN 2)|
//	|    RsvdULP (32) | QN (32) | MSN (32) | MO (32)     = 18 bytes |
//	+---------------------------------------------------------------+
//	|  payload (Read Request: sink STag 32, sink TO 64, size 32,     |
//	|  source STag 32, source TO 64 = 28 bytes;                    |
//	|  Terminate: layer/type 8, code 8, M D R bits, optional        |
//	|  terminated ULPDU_Length + DDP header + Read Request header)  |
//	+---------------------------------------------------------------+
//	|  pad (0..3 zero bytes to a multiple of 4)                     |
//	+---------------------------------------------------------------+
//	|  CRC32c over everything above, least significant byte first  |
//	+---------------------------------------------------------------+
//
// DDP control: T(0x80) L(0x40) Rsvd DV=1. RDMAP control: RV=1 (0x40) |
// opcode. ULPDU_Length counts the DDP/RDMAP header and payload, not
// itself, the pad or the CRC. We send at most maxSegPayload (65472)
// payload bytes per FPDU; we accept any length ULPDU_Length can express.
// Each untagged queue numbers its messages from MSN 1; MO is the offset
// of the segment in its message.
//
// # Data path
//
// One goroutine receives, one transmits. A Write or Read Response payload
// is read from the socket straight into the registered memory it targets
// (a small bufio.Reader serves the headers); a Send payload straight into
// the posted receive buffer. Read Responses and Writes are written from
// registered memory with writev. Every tagged access is checked at the
// target: the STag exists, is live, belongs to this QP's PD, [TO, TO+len)
// lies inside the region and the region grants RemoteWrite (Write) or
// RemoteRead (Read). A failed check sends a Terminate (DDP tagged buffer
// error or RDMAP remote protection error, RFC 5040 §7), discards the rest
// of the stream and fails the QP; the initiator completes the faulting
// request with StatusRemoteAccess and the later ones with StatusFlushed.
// A Send finding no posted receive is terminated with DDP untagged error
// "no buffer" (StatusRNR at the sender); one larger than the receive
// buffer with "message too long" (StatusLocalLength at the receiver,
// StatusRemoteInvalidRequest at the sender).
//
// Send and Write completions wait for proof of placement: see QP.
//
// # Revocation
//
// A region's read lock is held while one FPDU is placed or transmitted,
// and Deregister takes the write lock: when it returns nothing touches the
// memory and every later access fails. A peer that stalls in the middle of
// an FPDU aimed at the region stalls Deregister with it, until the QP is
// closed (which unblocks the read) — FPDUs are at most 64 KiB, so a live
// peer holds it for microseconds.
package soft
