// Package ibverbs is brick's verbs provider for RDMA NICs (RoCE,
// InfiniBand, iWARP) through libibverbs and librdmacm. It serves the rdma://
// scheme and exists only in builds with the ibverbs tag (cgo; Debian
// packages libibverbs-dev and librdmacm-dev):
//
//	go build -tags ibverbs,pebblegozstd ./cmd/brickd
//
// Without the tag this package is empty and verbs/providers answers rdma://
// with an error wrapping verbs.ErrNotSupported.
//
// # Devices
//
// The provider probes libibverbs once (ibv_get_device_list) and caches the
// answer. With no device every entry point returns an error wrapping
// verbs.ErrNotSupported that says so. Options.Netdev (brickd --rdma-netdev)
// names the network interface whose RDMA device to use: the mapping comes
// from github.com/Mellanox/rdmamap (sysfs), listening on a wildcard address
// binds to that interface's address, dialing resolves from it, and a
// connection that rdma_cm placed on another device is refused.
//
// # Connections
//
// rdma_cm sets connections up. Each listener and each connection has its
// own event channel; a connection request is moved (rdma_migrate_id) to a
// fresh channel before it is queued for Accept, so that one connection's
// events never wait behind another's. Channel fds are non-blocking and wait
// in Go's network poller on a dup of the fd, so no OS thread blocks in C.
//
// Private data: InfiniBand and RoCE carry private data in fixed-size CM
// fields (56 bytes in a connect request after rdma_cm's header, 196 in an
// accept, 148 in a reject) and deliver them padded with zeros, so the
// receiver cannot tell the sender's length. On those devices the provider
// sends a one-byte length before the data:
//
//	+--------+---------------------------+
//	| len: 1 | data: len bytes           |   padded by the CM to the field size
//	+--------+---------------------------+
//
// iWARP devices (siw, iWARP NICs) carry it in the MPA Request and Reply,
// which say its length, so there the data goes as it is: exactly what the
// software RNIC (tcp://) and any other iWARP peer send and expect, so that
// a brick hello reaches brick the same way whichever provider sent it.
// The framing follows the device the connection is bound to. Either way
// the caller has MaxConnectData (55), MaxAcceptData (195) and
// MaxRejectData (147) bytes; longer data is refused with an error
// wrapping verbs.ErrInvalid.
//
// # Queue pairs and memory
//
// One connection is one RC QP in a protection domain of its own (the
// passive side allocates one per accepted connection), with a send and a
// receive CQ on one completion channel. CQ.Wait blocks without spinning: it
// arms the CQ (ibv_req_notify_cq), polls once more to close the race, and
// sleeps on a Go channel that the connection's event goroutine signals
// when the completion channel fd becomes readable (ibv_get_cq_event).
//
// An error completion (other than flushed) means the RC QP is in the error
// state: the provider disconnects, so the peer learns it through rdma_cm
// and Done closes on both ends, as a Terminate does on the software RNIC.
//
// Every work request is signaled and carries an internal sequence number as
// its wr_id; the QP maps it back to the caller's ID and opcode, because a
// failed completion's opcode is undefined in the verbs API.
//
// Registration accepts only memory outside the Go heap (verbs.AllocMemory,
// mmap'd files, other page-aligned mmap'd memory): the NIC keeps DMA-ing
// into registered pages, and the Go runtime may move, reuse or free heap
// memory. Buffers must be page-aligned and unknown to the Go runtime (see
// checkRegistrable).
// RegisterWith ignores Hooks: placement and read ordering happen in the
// NIC, and FLUSH is executed by the NIC too.
//
// Memory windows are type-2 windows (ibv_alloc_mw, a signaled
// IBV_WR_BIND_MW work request), offered when the device reports
// IBV_DEVICE_MEM_WINDOW with type 2A or 2B, except on Soft-RoCE (rxe),
// whose responder checks a window access against the whole region (Linux
// 6.1): there brick registers a region per map. Binding posts on the send
// queue, so work requests posted after BindMW (such as the Send that tells
// the peer the key) leave after the bind. Invalidate deallocates the window
// (ibv_dealloc_mw), which the kernel completes synchronously.
//
// ATOMIC WRITE (rdma-core >= 44 headers) and FLUSH (rdma-core >= 45 headers,
// build tag rdmacore45) use the extended QP API (ibv_wr_*); each is offered
// only when the device reports it and the QP was created with it, and the
// FLUSH entry point is checked at run time (qpx->wr_flush != NULL).
package ibverbs
