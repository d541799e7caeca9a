// Package verbs is brick's RDMA abstraction: protection domains, memory
// regions, reliable-connected queue pairs, completion queues and a connection
// manager that carries private data, in the shape of the Linux verbs API.
//
// Why an interface at all: the brick must run, and be tested, where there is
// no RDMA hardware. Two providers implement it:
//
//   - verbs/soft: a pure-Go software RNIC speaking iWARP (MPA/DDP/RDMAP,
//     RFC 5044/5041/5040) over TCP. Addresses use the tcp:// scheme.
//   - verbs/ibverbs (build tag ibverbs, cgo): libibverbs + librdmacm for
//     RoCE, InfiniBand and iWARP NICs. Addresses use the rdma:// scheme.
//
// The model is the hardware one, on purpose, so that what passes on the
// software RNIC means something on a NIC:
//
//   - One connection is one RC queue pair; the passive side gets a fresh
//     protection domain per accepted connection. A remote key works only on
//     queue pairs of the protection domain it was registered in.
//   - Local buffers are described by scatter/gather entries (address, length,
//     lkey) into registered memory; the provider never copies through the Go
//     heap on the data path.
//   - A remote access fault (bad rkey, range, access right, revoked key)
//     completes the faulting work request with StatusRemoteAccess at the
//     initiator and moves the queue pair to the error state: later work
//     requests complete with StatusFlushed.
//   - Deregistering a memory region is a revocation: once Deregister returns,
//     no operation with its rkey touches the memory.
//   - Work requests complete in the order they were posted, with the
//     caller's ID. An RDMA Read posted after Writes on the same QP completes
//     only after those Writes are placed at the target.
package verbs

import (
	"context"
	"log/slog"
	"time"
)

// Access is a set of memory access rights.
type Access uint32

// Access rights, as in ibv_access_flags.
const (
	AccessLocalWrite  Access = 1 << 0
	AccessRemoteWrite Access = 1 << 1
	AccessRemoteRead  Access = 1 << 2
	// AccessRemoteAtomic allows ATOMIC WRITE (IBTA 1.5; an iWARP extension
	// of the software RNIC).
	AccessRemoteAtomic Access = 1 << 3
	// AccessFlushPersistent allows FLUSH with the persistence placement type.
	AccessFlushPersistent Access = 1 << 4
	// AccessMWBind allows binding memory windows over the region.
	AccessMWBind Access = 1 << 5
	// AccessStable is a promise, not a right: while the key is valid,
	// nothing stores into the memory it covers (no key writes it and its
	// owner does not). A software RNIC may then send a Read Response
	// straight from that memory instead of from a private copy, which it
	// otherwise makes so that the CRC covers the bytes it sends
	// (verbs/soft/stage.go). A key that grants writes, or a region with
	// local write, cannot make it (ErrInvalid). Hardware providers ignore
	// it.
	AccessStable Access = 1 << 6
)

// Opcode names a work request or completion.
type Opcode uint8

// Work request opcodes.
const (
	OpSend  Opcode = iota + 1 // untagged Send into the peer's posted receive
	OpWrite                   // RDMA Write: local SGE → (RKey, RemoteAddr)
	OpRead                    // RDMA Read: (RKey, RemoteAddr) → local SGE
	OpRecv                    // completion of a posted receive
	// OpSendInv is a Send with Invalidate: the peer's RNIC invalidates
	// InvalidateRKey (one of its own memory windows or regions bound to
	// this connection) before it delivers the message.
	OpSendInv
	// OpAtomicWrite writes the 8 bytes of Local to (RKey, Remote), which
	// must be 8-byte aligned, as one indivisible placement.
	OpAtomicWrite
	// OpFlush makes [Remote, Remote+Local.Length) of (RKey) persistent at
	// the target (IBTA 1.5 FLUSH, placement type persistent, range
	// selectivity); it completes once the target reports it done. Local
	// names no memory: only its Length is used.
	OpFlush
)

func (o Opcode) String() string {
	switch o {
	case OpSend:
		return "send"
	case OpWrite:
		return "write"
	case OpRead:
		return "read"
	case OpRecv:
		return "recv"
	case OpSendInv:
		return "send-inv"
	case OpAtomicWrite:
		return "atomic-write"
	case OpFlush:
		return "flush"
	}
	return "unknown"
}

// Status is a work completion status.
type Status uint8

// Completion statuses, after ibv_wc_status.
const (
	StatusSuccess      Status = iota
	StatusLocalLength         // local SGE too small, or message larger than the receive buffer
	StatusLocalProt           // lkey or local range invalid
	StatusRemoteAccess        // bad rkey, range or access right at the target
	StatusRemoteOp            // the target could not perform the operation
	StatusRemoteInvalidRequest
	StatusFlushed   // the QP entered the error state before this request ran
	StatusTransport // the connection broke
	StatusRNR       // no receive posted at the peer
)

func (s Status) String() string {
	switch s {
	case StatusSuccess:
		return "success"
	case StatusLocalLength:
		return "local length error"
	case StatusLocalProt:
		return "local protection error"
	case StatusRemoteAccess:
		return "remote access error"
	case StatusRemoteOp:
		return "remote operation error"
	case StatusRemoteInvalidRequest:
		return "remote invalid request"
	case StatusFlushed:
		return "flushed"
	case StatusTransport:
		return "transport error"
	case StatusRNR:
		return "receiver not ready"
	}
	return "unknown status"
}

// SGE is a scatter/gather entry: Length bytes at Addr inside the memory
// region whose local key is LKey.
type SGE struct {
	Addr   uint64
	Length uint32
	LKey   uint32
}

// SendWR is a work request on the send queue.
type SendWR struct {
	ID     uint64 // returned in the completion
	Op     Opcode // OpSend, OpSendInv, OpWrite, OpRead, OpAtomicWrite, OpFlush
	Local  SGE    // source for Send/Write, sink for Read
	RKey   uint32 // Write/Read/AtomicWrite/Flush: the remote key
	Remote uint64 // Write/Read/AtomicWrite/Flush: the remote address (tagged offset)
	// InvalidateRKey is the peer's key that OpSendInv invalidates.
	InvalidateRKey uint32
}

// RecvWR is a work request on the receive queue.
type RecvWR struct {
	ID    uint64
	Local SGE
}

// WC is a work completion.
type WC struct {
	ID      uint64
	Op      Opcode
	Status  Status
	ByteLen uint32 // bytes received, for OpRecv
	// Invalidated is the local key a received Send with Invalidate
	// revoked (0 if none), for OpRecv.
	Invalidated uint32
}

// Err returns nil for a successful completion and an error wrapping the
// matching sentinel otherwise.
func (wc WC) Err() error {
	if wc.Status == StatusSuccess {
		return nil
	}
	return &CompletionError{Op: wc.Op, Status: wc.Status}
}

// Provider creates listeners and dials connections for one address scheme.
type Provider interface {
	// Scheme is the URL scheme the provider serves: "tcp" or "rdma".
	Scheme() string
	// Listen starts accepting connections on host:port.
	Listen(ctx context.Context, hostport string, cfg ListenConfig) (Listener, error)
	// Dial connects to host:port, sending privateData with the connection
	// request. It returns the connected queue pair, whose PD is new.
	Dial(ctx context.Context, hostport string, cfg QPConfig, privateData []byte) (QP, error)
}

// ListenConfig configures a listener.
type ListenConfig struct {
	// Backlog bounds connection requests awaiting Accept.
	Backlog int
	// Logger, if set, hears about connections dropped before they became
	// connection requests (garbage, stalled or excess handshakes), which
	// the consumer of Accept never sees.
	Logger *slog.Logger
}

// QPConfig sizes a queue pair.
type QPConfig struct {
	SendDepth   int // outstanding send work requests (including Reads)
	RecvDepth   int // posted receives
	MaxReadSize int // largest RDMA Read the initiator will issue (0 = 2 MiB)
}

// Listener yields connection requests.
type Listener interface {
	// Accept waits for the next connection request.
	Accept(ctx context.Context) (ConnRequest, error)
	// Addr is the bound address as host:port (the real port when 0 was asked).
	Addr() string
	Close() error
}

// ConnRequest is a connection request awaiting an answer. Exactly one of
// Accept or Reject must be called.
type ConnRequest interface {
	// PrivateData is what the active side sent with its request.
	PrivateData() []byte
	RemoteAddr() string
	// Accept creates a queue pair in a new protection domain and completes
	// the connection, returning privateData to the peer. Receives that must
	// be in place before the peer's first Send are posted by prepare, which
	// runs before the peer learns the connection is up.
	Accept(cfg QPConfig, privateData []byte, prepare func(QP) error) (QP, error)
	// Reject refuses the connection, returning privateData to the peer.
	Reject(privateData []byte) error
}

// QP is a connected reliable queue pair.
type QP interface {
	// PD is the queue pair's protection domain.
	PD() PD
	// PrivateData is what the peer returned when the connection was set up
	// (the accept data at the active side, the request data at the passive).
	PrivateData() []byte
	// PostSend queues a work request. It fails only when the request is
	// malformed or the send queue is full; faults found later arrive as
	// completions.
	PostSend(wr SendWR) error
	// PostRecv queues a receive buffer.
	PostRecv(wr RecvWR) error
	// SendCQ yields completions of send work requests, RecvCQ of receives.
	SendCQ() CQ
	RecvCQ() CQ
	// RemoteAddr is the peer's address.
	RemoteAddr() string
	// Caps are the optional features usable on this connection (what both
	// ends and the device support).
	Caps() Caps
	// BindMW binds a new type-2 memory window over [off, off+length) of mr
	// to this queue pair and returns it. mr must allow AccessMWBind; the
	// window's access may not exceed the region's. Errors wrap
	// ErrNotSupported when the device has no memory windows.
	BindMW(mr MR, off, length int, access Access) (MW, error)
	// Close disconnects and flushes outstanding work requests. Memory
	// regions of the PD are deregistered by the PD's owner, not here.
	Close() error
	// Done is closed when the connection has ended (either side, or error).
	Done() <-chan struct{}
	// Err is nil while the queue pair works and then says why it ended:
	// a local Close (wraps ErrClosed), a fault it detected (ErrProtocol,
	// ErrStalled, ErrRemoteAccess, ErrCompletion), the peer's disconnect
	// or a transport error. The first cause wins.
	Err() error
	// Device describes what serves the queue pair, so that policy (the
	// persist method) can be decided from facts rather than provider types.
	Device() DeviceInfo
}

// DeviceInfo describes the device serving a queue pair.
type DeviceInfo struct {
	// Name is the RDMA device (mlx5_0, siw0), or the provider's name for
	// the in-process software RNIC ("soft").
	Name string
	// Software: this process's CPU places the bytes (the in-process
	// software RNIC). No NIC and no PCIe root port is on the path.
	Software bool
	// PCI is the NIC's PCI function (0000:3b:00.0); empty when there is
	// none (kernel software devices such as siw and rxe) or it is unknown.
	PCI string
}

// CQ is a completion queue.
type CQ interface {
	// Poll copies up to len(wcs) ready completions without blocking.
	Poll(wcs []WC) int
	// Wait blocks until at least one completion is ready (or ctx ends, or
	// the queue pair is closed and drained) and then polls.
	Wait(ctx context.Context, wcs []WC) (int, error)
}

// Caps are optional features of a connection.
type Caps struct {
	MemoryWindows bool // type-2 memory windows and Send with Invalidate
	AtomicWrite   bool // OpAtomicWrite
	Flush         bool // OpFlush with the persistent placement type
	// EarlyCompletion: a Send or Write completes once handed to the
	// transport, before the peer has the bytes, and its buffer may still
	// be read after that (Linux siw transmits from the caller's pages).
	// Its buffer is free for reuse only once a later Read on the same QP
	// completes. The software RNIC and InfiniBand/RoCE complete on
	// placement and leave this false.
	EarlyCompletion bool
	// NoCRC: the MPA negotiation of this iWARP connection left the CRC
	// out (RFC 5044: neither end asked for it), so TCP's checksum alone
	// guards its frames. Only the software RNIC reports it; a kernel
	// device negotiates on its own and leaves this false.
	NoCRC bool
}

// PD is a protection domain: memory registered in it is reachable only
// through queue pairs of the same domain.
type PD interface {
	// Register makes buf available to local SGEs and, with remote rights,
	// to the peer. buf must stay valid and unmoved until Deregister: use
	// mmap'd memory or long-lived buffers.
	Register(buf []byte, access Access) (MR, error)
	// RegisterWith is Register with data-path hooks (see Hooks).
	RegisterWith(buf []byte, access Access, opts RegisterOptions) (MR, error)
}

// RegisterOptions are optional parts of a registration.
type RegisterOptions struct {
	// Hooks, if set, observe the data path on the region.
	Hooks Hooks
}

// Hooks let memory that models persistence see what an RNIC does to it.
// A hardware RNIC does these things in silicon and a hardware provider
// ignores Hooks except Flush (see below); the software RNIC calls them so
// that the power-fail simulator (pmem) can model where bytes are, and so
// that FLUSH can make file-backed memory durable. Offsets are relative to
// the registered buffer. Calls for one region come from one goroutine at
// a time per queue pair, in wire order.
type Hooks interface {
	// Placed: inbound bytes (RDMA Write, ATOMIC WRITE) were placed at
	// [off, off+n); they are in the NIC/PCIe path, not yet in memory.
	Placed(off, n int)
	// ReadServed: the RNIC answered an RDMA Read on a queue pair of this
	// region's protection domain, after every placement it had made
	// before. By PCIe ordering, those placements have reached the memory
	// controller (or the CPU cache, when DDIO is on).
	ReadServed()
	// Flush: an RDMA FLUSH (persistent) for [off, off+n) must make those
	// bytes persistent before the RNIC reports it complete.
	Flush(off, n int) error
}

// MW is a type-2 memory window: a key onto part of a memory region, bound
// to one queue pair. Invalidate (or a Send with Invalidate from the peer)
// revokes it with the same guarantee as MR.Deregister.
type MW interface {
	RKey() uint32
	Addr() uint64
	Len() int
	// Invalidate revokes the window: when it returns, no operation with
	// its key is in progress and none will start. Invalidating a window
	// the peer already invalidated is not an error.
	Invalidate() error
}

// MR is a registered memory region.
type MR interface {
	LKey() uint32
	RKey() uint32
	// Addr is the address the region starts at, for SGEs and for the peer.
	Addr() uint64
	Len() int
	// Deregister revokes the region: when it returns, no operation with
	// its keys is in progress and none will start.
	Deregister() error
}

// SGE is a convenience that describes n bytes at offset off of mr.
func SGEOf(mr MR, off, n int) SGE {
	return SGE{Addr: mr.Addr() + uint64(off), Length: uint32(n), LKey: mr.LKey()}
}

// DefaultTimeout bounds connection setup when the caller's context has no
// deadline.
const DefaultTimeout = 10 * time.Second
