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
// answers with a HelloReply (96 bytes, under the 196-byte accept limit), or
// rejects the connection with a HelloReply whose Status says why. The
// version is the highest in both ranges (NegotiateVersion); the features
// are the intersection of asked and offered, plus FeatureAuth when the
// brick requires a key (NegotiateFeatures).
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
//	                                  56  timeout ms  u32 (silence ends a session)
//	                                  60  reserved    u32 = 0
//	                                  64  nonce       [32] (brick's challenge)
//
// # Session states
//
//	connecting ─hello─▶ [authenticating] ─Auth ok─▶ ready ─▶ closing
//
// With FeatureAuth the first frame must be an AuthRequest; anything else,
// or a wrong proof, is answered StatusPermission and ends the session.
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
//	FreeRequest with flags: id u64, flags u32 (bit 0: unmap first;
//	                only to a brick that offered FeatureFreeUnmap)        (12)
//	FreeRequest keyed: id u64, flags u32 (bits 0 and 1: unmap the map
//	                with rkey first), rkey u32 (FeatureUnmapKey)          (16)
//	UnmapRequest keyed: id u64, rkey u32 (only the map with that key;
//	                only to a brick that offered FeatureUnmapKey)         (12)
//	MapRequest:     id u64, flags u32                                     (12)
//	MapReply:       rkey u32, access u8, method u8, reserved u16,
//	                addr u64, length u64                                  (24)
//	AllocMapRequest: a MapRequest's layout (only to a brick that offered
//	                FeatureAllocMap)                                      (12)
//	AllocMapReply:  a MapReply's layout                                   (24)
//	ListRequest:    first u64, last u64 (inclusive), max extents u32      (20)
//	ListReply:      count u32, flags u32 (bit 0: more), next u64,
//	                count × {first u64, blocks u64, state u8, pad [7]}    (16+24n)
//	StatusRequest:  empty                                                 (0)
//	StatusReply:    frames, free frames, blocks, mapped, unclean u64,
//	                sessions u32, backend u8, persistent u8, methods u8,
//	                cpu flush u8, brick UUID [16],
//	                domain u8, platform domain u8, ddio policy u8,
//	                software rnic u8, software ddio u8, capabilities u8,
//	                count u16 (≤ 32),
//	                count × {name [64], pci [16], root port [16] (NUL-padded),
//	                         platform u8, ddio state u8, reason u8, pad [5]},
//	                tier slots u64, free tier slots u64, tiered blocks u64
//	                                                                      (96+104n)
//	PersistRequest: id u64, offset u64, length u64                        (24)
//	PingRequest:    empty                                                 (0)
//	AuthRequest:    proof [32], client nonce [32]                         (64)
//	AuthReply:      proof [32]                                            (32)
//	empty replies:  Alloc, Free, Unmap, Persist, Ping                     (0)
//
// Admin verbs (admin.go):
//
//	FreeRangeRequest: first u64, last u64 (inclusive)                     (16)
//	FreeRangeReply:   freed u32, busy u32, flags u32 (bit 0: more),
//	                  reserved u32, next u64, first busy u64              (32)
//	SessionsRequest:  first session u64, first block u64, max u32         (20)
//	SessionsReply:    count u32, flags u32 (bit 0: more),
//	                  next session u64, next block u64,
//	                  count × record                                      (24+…)
//	  record:         session u64, age ms u64, maps u32, listed m u16,
//	                  flags u8, reserved u8, peer [64] (NUL-padded),
//	                  m × {block u64, flags u8, pad [7]}                  (88+16m)
//	RevokeRequest:    session u64 (0: any), block u64,
//	                  flags u32 (bit 0: this block only, bit 1: end it)   (20)
//	RevokeReply:      maps u32, sessions u32                              (8)
//
// A proof is HMAC-SHA256(key, label ‖ transcript), the transcript being
// version u8, features u64, session ID u64, UUID [16], brick nonce [32],
// client nonce [32]; the labels are "brick-auth-v1 client proof" and
// "brick-auth-v1 brick proof" (auth.go).
//
// docs/protocol.md is the prose specification of the same bytes.
package protocol
