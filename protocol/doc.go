// Package protocol is the brick's control protocol: the hello exchanged in
// the connection's private data, and the request/reply messages carried as
// RDMA Sends on the same queue pair as the data.
//
// Why a binary protocol of its own: the brick's control messages ride in
// RDMA Sends into fixed, pre-posted receive buffers, so every message has a
// small bound (MaxMessage) and a fixed layout a C client on plain
// libibverbs can produce without a serialisation library. All integers are
// big-endian (network order, like the iWARP headers around them).
//
// # Hello (connection private data)
//
// The active side's connection request carries a HelloRequest (16 bytes,
// under InfiniBand's 56-byte limit for connect private data); the brick
// answers with a HelloReply (56 bytes, under the 196-byte accept limit), or
// rejects the connection with a HelloReply whose Status says why.
//
//	HelloRequest                      HelloReply
//	 0  magic      u16 0xB71C          0  magic       u16 0xB71C
//	 2  min ver    u8                  2  version     u8 (chosen)
//	 3  max ver    u8                  3  reserved    u8 = 0
//	 4  features   u64                 4  status      u16
//	12  recv depth u16                 6  recv depth  u16 (requests in flight)
//	14  reserved   u16 = 0             8  max message u32
//	                                  12  features    u64
//	                                  20  brick UUID  [16]
//	                                  36  frame size  u32
//	                                  40  frames      u64
//	                                  48  session ID  u64
//
// # Frame
//
// Every message after the hello is one frame in one Send:
//
//	 0               2       3       4               6               8
//	+---------------+-------+-------+---------------+---------------+
//	| magic 0xB71C  |version| type  |  flags (0)    |    status     |
//	+---------------+-------+-------+---------------+---------------+
//	|                       request ID (u64)                        |
//	+-------------------------------+-------------------------------+
//	|      payload length (u32)     |  CRC32c (header+payload, u32) |
//	+-------------------------------+-------------------------------+
//	|                   payload (payload length bytes)              |
//
// The CRC is Castagnoli over the header with the CRC field zero, then the
// payload. A reply has the request's type with the high bit set and the same
// request ID. A reply whose status is not StatusOK has no payload.
//
// # Messages (payload layouts)
//
//	AllocRequest, FreeRequest, UnmapRequest: id u64                       (8)
//	MapRequest:     id u64, flags u32                                     (12)
//	MapReply:       rkey u32, access u8, method u8, reserved u16,
//	                addr u64, length u64                                  (24)
//	ListRequest:    first u64, last u64 (inclusive), max extents u32      (20)
//	ListReply:      count u32, flags u32 (bit 0: more), next u64,
//	                count × {first u64, blocks u64, state u8, pad [7]}    (16+24n)
//	StatusRequest:  empty                                                 (0)
//	StatusReply:    frames, free frames, blocks, mapped, unclean u64,
//	                sessions u32, backend u8, persistent u8, methods u8,
//	                reserved u8, brick UUID [16]                          (64)
//	PersistRequest: id u64, offset u64, length u64                        (24)
//	empty replies:  Alloc, Free, Unmap, Persist                           (0)
//
// docs/protocol.md is the prose specification of the same bytes.
package protocol
