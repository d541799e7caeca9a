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
//	+-+-+-+-+-+-+-+-+---------------+-------------------------------+
//	|M|C|R|S|G|A|F|0|   Rev = 1|2   |      PD_Length (<= 512)       |
//	+-+-+-+-+-+-+-+-+---------------+-------------------------------+
//	|  Private data (PD_Length bytes)                              |
//	+---------------------------------------------------------------+
//
// M markers, C CRC, R reject (RFC 5044). S: a revision 2 frame whose
// private data starts with the enhanced connection data below; that is
// how Linux siw and cxgb4 signal it, and a revision 2 frame without S
// carries none. G is siw's GSO hint (ignored). A and F are brick's
// extension offer (below); RFC 5044 has other peers send these reserved
// bits as zero.
//
// We send M=0 (a peer asking for markers is refused, as siw does), C=1
// (a Request with C=0 is answered with C=1, which RFC 5044 lets a
// responder choose; the CRC is used when either side asks) unless the
// provider has Options.OptionalCRC, and R=1 only in a rejecting Reply, whose
// private data reaches the dialer as *verbs.RejectedError. The listener
// negotiates each connection in its own goroutine (bounded by
// verbs.DefaultTimeout and maxHandshakes; when maxHandshakes are under way
// the oldest connection still sending its request is closed to admit the
// new one, so a flood of half-open connections cannot lock real peers
// out) before queueing it for Accept (Backlog entries). Accept runs
// prepare, then sends the Reply. In every revision the passive side
// transmits nothing until the first FPDU from the active side has arrived
// (RFC 5044 §7.1.2).
//
// # Enhanced connection setup (RFC 6581) and brick's extensions
//
// The dialer sends Rev = 2 with S. The private data of a Request or Reply
// with S starts with the enhanced connection data; the caller's private
// data follows, exactly as another iWARP stack hands it to its caller:
//
//	+-+-+---------------------------+-+-+---------------------------+
//	|P|Z|  IRD (14 bits)            |W|R|  ORD (14 bits)            |
//	+-+-+---------------------------+-+-+---------------------------+
//	|  Reply only, when extensions were accepted: magic "BrkX",     |
//	|  version = 1, extensions, reserved = 0 (8 bytes)              |
//	+---------------------------------------------------------------+
//	|  caller's private data                                        |
//
// P = peer-to-peer mode; Z, W, R = zero-length Send, RDMA Write, RDMA
// Read RTR (Request: the kinds offered; Reply: the one chosen). We offer
// the zero-length RDMA Read RTR: with P set in the Reply the dialer sends
// it as its first FPDU, and the listener's Read Response to it is an
// ordinary completion fence. As listener we accept every RTR a peer
// offers and choose Read, else Write, else Send: a zero-length Write is
// never checked against the STag it names (siw sends STag 1), and a
// zero-length Send as first message is consumed by the RNIC, not by a
// posted receive. A listener answers a Request in its own revision, and
// with the enhanced data only if the Request had them. IRD is the Read
// (and FLUSH) Requests the sender queues (we announce maxIRD); ORD what it
// will have outstanding (our Reply's ORD never exceeds the Request's
// IRD). The dialer never has more Reads, FLUSHes and completion fences
// outstanding than the peer's IRD; an announced IRD of 0 is taken as 1,
// the one Read a completion fence needs.
//
// Extensions: the Request offers them in the flags byte, A (0x04) ATOMIC
// WRITE and F (0x02) FLUSH, never in the private data, which another
// stack passes to its caller whole. A listener that is this software
// RNIC answers with the bits it accepts and, after the enhanced data, the
// extension header carrying the same bits; only those opcodes may then
// be sent (an unnegotiated one is terminated as an unexpected opcode).
// Linux siw echoes the Request's flags byte in its Reply without a
// header, so the dialer takes extensions only from a Reply whose header
// magic and version check out. Memory windows and Send with Invalidate
// are standard (RFC 5040) and always on (Caps().MemoryWindows).
//
// Fallback: a listener answers a revision 1 Request with a revision 1
// Reply, and a dialer that gets a revision 1 Reply, or a revision 2 Reply
// without S, proceeds without IRD/ORD, peer-to-peer mode or extensions.
// (An RFC 5044 peer that refuses revision 2 outright instead of answering
// with revision 1 is not retried.)
//
// # FPDU (RFC 5044 §4, RFC 5041 §4, RFC 5040 §4)
//
//	+---------------+---------------+---------------+---------------+
//	|  ULPDU_Length (16)            | DDP control   | RDMAP control |
//	+---------------+---------------+---------------+---------------+
//	|  tagged (Write 0, Read Response 2):                           |
//	|    STag (32) | Tagged Offset (64)                  = 14 bytes |
//	|  untagged (Send 3 and Send with Invalidate 4 QN 0, Read       |
//	|  Request 1 QN 1, Terminate 7 QN 2; FLUSH Request 0xD QN 1)    |
//	|    RsvdULP or Invalidate STag (32) | QN (32) | MSN (32) |      |
//	|    MO (32)                                         = 18 bytes |
//	+---------------------------------------------------------------+
//	|  payload (Read Request: sink STag 32, sink TO 64, size 32,     |
//	|  source STag 32, source TO 64 = 28 bytes;                    |
//	|  FLUSH Request: STag 32, TO 64, length 32 = 16 bytes;         |
//	|  ATOMIC WRITE: the 8 bytes to store;                          |
//	|  Terminate: layer/type 8, code 8, M D R bits, optional        |
//	|  terminated ULPDU_Length + DDP header + Read Request header)  |
//	+---------------------------------------------------------------+
//	|  pad (0..3 zero bytes to a multiple of 4)                     |
//	+---------------------------------------------------------------+
//	|  CRC32c over everything above, least significant byte first  |
//	|  (zero and unchecked when neither side asked for the CRC)     |
//	+---------------------------------------------------------------+
//
// Extension opcodes — brick's own, negotiated (above), NOT standard
// iWARP: RFC 7306 assigns 0x8/0x9 to Immediate Data and 0xA/0xB to
// Atomic Request/Response, so we use unassigned codes: 0xC ATOMIC WRITE
// (tagged, STag/TO of the target, exactly 8 bytes, one segment), 0xD
// FLUSH Request (untagged on queue 1, sharing the Read Request MSNs and
// IRD), 0xE FLUSH Response (tagged, STag/TO of the request, no payload).
// Wireshark shows them as unknown RDMAP opcodes.
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
// One goroutine receives, one transmits. A Read Response payload is read
// from the socket straight into the registered memory it targets (a small
// bufio.Reader serves the headers); a Send payload straight into the
// posted receive buffer. Writes and Sends are written from registered
// memory with writev. The target's memory is staged instead (stage.go):
// an inbound Write is read into a private buffer, checksummed and copied
// into the region, and a Read Response is copied out of the region,
// checksummed and written from the copy, since that memory may change
// while it moves and the CRC must cover the bytes that cross the wire.
// Memory registered or bound with verbs.AccessStable (the owner promises
// nothing stores into it) is not copied for a large Read Response: it is
// written from the region, whose read lock is held until the writev ends.
// Large messages go in batches of FPDUs, the
// small ones (up to 4 KiB of payload, Read Requests, completion fences)
// corked, so that a 4 KiB Write and the fence behind it cost one system
// call. PostSend transmits small messages itself when the sender is idle,
// saving the wake-up of the send goroutine; so does the receive goroutine
// for the answers to small Read and FLUSH Requests, in one writev for the
// requests that arrived together, but only as many bytes as the socket's
// send buffer takes without blocking (it must never wait on a peer that
// may be waiting for it to read). The bytes on the
// wire are the same either way. Every tagged access is checked at the
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
// Send and Write completions wait for proof of placement: see QP. A
// Write is fenced at once; Sends only when the send CQ is polled empty.
//
// Send with Invalidate carries the STag in every segment; on the last
// one the target invalidates it (a region or window of this QP's PD; a
// window must be bound to this QP) before completing the receive with
// WC.Invalidated. A refused STag completes the receive with
// StatusRemoteInvalidRequest and terminates the stream with RDMAP error
// "STag cannot be invalidated" (0x09): type Remote Protection when the
// STag belongs to another PD or QP, Remote Operation when it does not
// exist or is already invalid (as Linux siw does).
//
// ATOMIC WRITE needs AccessRemoteAtomic and an 8-byte aligned target and
// is placed after its CRC checked, with one 8-byte atomic store. FLUSH
// needs AccessFlushPersistent; the target calls the region's Hooks.Flush
// in stream order (after every earlier placement) and queues the FLUSH
// Response behind the Read Responses before it; the initiator completes
// OpFlush, and everything posted before it, when the response arrives.
// A failing Flush hook terminates with RDMAP Remote Operation,
// unspecified (StatusRemoteOp).
//
// # Memory windows and hooks
//
// A type-2 window is an entry in the same STag table as regions, with
// its own read/write lock: every tagged access validates and holds the
// window's lock for one FPDU (a stable key's Read Response batch, until
// written), Invalidate takes it for writing. A region's
// Deregister invalidates the windows bound over it first. Hooks
// (RegisterWith) are called on the receive goroutine: Placed after each
// Write segment or ATOMIC WRITE (offsets in the registered buffer, also
// through windows), ReadServed on every hooked region of the PD when a
// Read Request (including our completion fences and the RTR) arrives —
// the answer is sent after every earlier placement — and Flush for FLUSH.
//
// # Revocation
//
// A region's read lock is held while one FPDU is placed, an outbound
// message's batch of FPDUs is transmitted, or a Read Response's bytes are
// copied out (they are written from the copy without it; through a key
// with verbs.AccessStable, a large Read Response's batch is written from
// the region under the lock, up to 16 FPDUs), and Deregister takes the
// write lock: when it returns nothing touches the memory and every later
// access fails. A peer that stalls in the middle of an FPDU aimed at the
// region, or stops reading a stable batch, stalls Deregister with it,
// until the QP is closed or the write deadline fails it — FPDUs are at
// most 64 KiB, so a live peer holds it for microseconds.
package soft
