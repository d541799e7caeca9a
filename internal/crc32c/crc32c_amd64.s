#include "textflag.h"

// CLMUL2 multiplies each 128-bit lane of ACC by the constant pair in K:
// the low quadwords into LO, the high into HI. Xored together and into
// the lane d bits on, the products fold ACC that far forward.
#define CLMUL2(K, ACC, LO, HI) \
	VPCLMULQDQ $0x00, K, ACC, LO; \
	VPCLMULQDQ $0x11, K, ACC, HI

// XOR3 sets D to D xor A xor B.
#define XOR3(A, B, D) VPTERNLOGD $0x96, A, B, D

// NEXT steps past N bytes of p.
#define NEXT(N) \
	ADDQ $N, SI; \
	SUBQ $N, CX

// FOLD_BLOCKS folds ACC onto each further N-byte block of p while at least
// N bytes are left, K holding the constants for N*8 bits and TMP free.
#define FOLD_BLOCKS(N, K, ACC, TMP, LOOP, DONE) \
LOOP: \
	CMPQ CX, $N; \
	JB   DONE; \
	CLMUL2(K, ACC, TMP, ACC); \
	XOR3((SI), TMP, ACC); \
	NEXT(N); \
	JMP  LOOP

// NEXT_COPY steps past N bytes of p and of dst.
#define NEXT_COPY(N) \
	ADDQ $N, SI; \
	ADDQ $N, DI; \
	SUBQ $N, CX

// FOLD_BLOCKS_COPY is FOLD_BLOCKS that also stores each block at dst,
// folding the register it loaded (DATA) rather than memory.
#define FOLD_BLOCKS_COPY(N, K, ACC, TMP, DATA, LOOP, DONE) \
LOOP: \
	CMPQ      CX, $N; \
	JB        DONE; \
	VMOVDQU64 (SI), DATA; \
	VMOVDQU64 DATA, (DI); \
	CLMUL2(K, ACC, TMP, ACC); \
	XOR3(DATA, TMP, ACC); \
	NEXT_COPY(N); \
	JMP       LOOP

// MERGE folds Z0, Z1 and Z2 1536, 1024 and 512 bits onto Z3, and leaves
// the 512-bit constants in Z6 for the 64-byte loop.
#define MERGE \
	VBROADCASTI32X4 16(DX), Z4; \
	VBROADCASTI32X4 32(DX), Z5; \
	VBROADCASTI32X4 48(DX), Z6; \
	CLMUL2(Z4, Z0, Z7, Z0); \
	CLMUL2(Z5, Z1, Z8, Z1); \
	CLMUL2(Z6, Z2, Z9, Z2); \
	XOR3(Z7, Z0, Z3); \
	XOR3(Z8, Z1, Z3); \
	XOR3(Z9, Z2, Z3)

// LANES folds lanes 0, 1, 2 of Z3 384, 256 and 128 bits onto lane 3
// (whose constants are zero), xors the four lanes into X9, and leaves the
// 128-bit constants in X4 for the 16-byte loop.
#define LANES \
	VMOVDQU64     64(DX), Z4; \
	CLMUL2(Z4, Z3, Z7, Z8); \
	VEXTRACTI32X4 $3, Z3, X9; \
	XOR3(Z7, Z8, Z9); \
	VEXTRACTI64X4 $1, Z9, Y10; \
	VPXORQ        Y10, Y9, Y9; \
	VEXTRACTI32X4 $1, Y9, X10; \
	VPXORQ        X10, X9, X9; \
	VMOVDQU       96(DX), X4

// REDUCE brings the 128 bits in X9 to the 32-bit CRC register and
// returns it in SLOT.
//
// 128 bits to 64: the low half times x^96 onto the high half. 64 bits (in
// 96) to 64: the low 32 bits times x^64 onto the rest. Barrett: q = (top
// 32 * mu) top 32, crc = (R - q*P) low 32, which the reflection puts in
// dword 1.
#define REDUCE(SLOT) \
	VMOVDQU    128(DX), X4; \
	VMOVDQU    160(DX), X5; \
	VPCLMULQDQ $0x00, X4, X9, X7; \
	VPSRLDQ    $8, X9, X9; \
	VPXORQ     X7, X9, X9; \
	VPSRLDQ    $4, X9, X8; \
	VPANDQ     X5, X9, X9; \
	VPCLMULQDQ $0x10, X4, X9, X9; \
	VPXORQ     X8, X9, X9; \
	VMOVDQU    144(DX), X4; \
	VPANDQ     X5, X9, X7; \
	VPCLMULQDQ $0x10, X4, X7, X7; \
	VPANDQ     X5, X7, X7; \
	VPCLMULQDQ $0x00, X4, X7, X7; \
	VPXORQ     X9, X7, X7; \
	VPEXTRD    $1, X7, AX; \
	MOVL       AX, SLOT; \
	VZEROUPPER; \
	RET

// func fold(crc uint32, p []byte) uint32
//
// Bit-reflected throughout: byte 0 of a 128-bit lane holds the highest
// powers of x, so a lane's low quadword is the earlier half. Folding a lane
// d bits forward is lo*foldK(d+32) xor hi*foldK(d-32) (VPCLMULQDQ $0x00
// and $0x11 against a broadcast constant pair), xored into the lane d bits
// on.
TEXT ·fold(SB), NOSPLIT, $0-36
	MOVL crc+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	LEAQ ·foldConsts(SB), DX

	// Four accumulators over the first 256 bytes, the register xored
	// into the first four.
	VMOVD     AX, X4
	VPXORQ    (SI), Z4, Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	NEXT(256)

	// Each accumulator folds 2048 bits onto the next 256-byte block; the
	// four multiply chains are independent, so the loop runs at the
	// multiplier's throughput rather than its latency.
	VBROADCASTI32X4 0(DX), Z4

loop256:
	CMPQ CX, $256
	JB   merge
	CLMUL2(Z4, Z0, Z5, Z0)
	CLMUL2(Z4, Z1, Z6, Z1)
	CLMUL2(Z4, Z2, Z7, Z2)
	CLMUL2(Z4, Z3, Z8, Z3)
	XOR3((SI), Z5, Z0)
	XOR3(64(SI), Z6, Z1)
	XOR3(128(SI), Z7, Z2)
	XOR3(192(SI), Z8, Z3)
	NEXT(256)
	JMP  loop256

merge:
	MERGE

	// What is left in 64-byte blocks, 512 bits at a time (Z6).
	FOLD_BLOCKS(64, Z6, Z3, Z7, loop64, lanes)

lanes:
	LANES

	// What is left in 16-byte blocks, 128 bits at a time.
	FOLD_BLOCKS(16, X4, X9, X7, loop16, reduce)

reduce:
	REDUCE(ret+32(FP))

// func foldCopy(crc uint32, dst, p []byte) uint32
//
// fold, storing each block of p at dst as it is loaded: the CRC is of the
// bytes stored, even if p changes meanwhile. len(dst) must be len(p).
TEXT ·foldCopy(SB), NOSPLIT, $0-60
	MOVL crc+0(FP), AX
	MOVQ dst_base+8(FP), DI
	MOVQ p_base+32(FP), SI
	MOVQ p_len+40(FP), CX
	LEAQ ·foldConsts(SB), DX

	VMOVD     AX, X4
	VMOVDQU64 (SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVDQU64 Z0, (DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VPXORQ    Z4, Z0, Z0
	NEXT_COPY(256)
	VBROADCASTI32X4 0(DX), Z4

copy256:
	CMPQ      CX, $256
	JB        copymerge
	VMOVDQU64 (SI), Z10
	VMOVDQU64 64(SI), Z11
	VMOVDQU64 128(SI), Z12
	VMOVDQU64 192(SI), Z13
	VMOVDQU64 Z10, (DI)
	VMOVDQU64 Z11, 64(DI)
	VMOVDQU64 Z12, 128(DI)
	VMOVDQU64 Z13, 192(DI)
	CLMUL2(Z4, Z0, Z5, Z0)
	CLMUL2(Z4, Z1, Z6, Z1)
	CLMUL2(Z4, Z2, Z7, Z2)
	CLMUL2(Z4, Z3, Z8, Z3)
	XOR3(Z10, Z5, Z0)
	XOR3(Z11, Z6, Z1)
	XOR3(Z12, Z7, Z2)
	XOR3(Z13, Z8, Z3)
	NEXT_COPY(256)
	JMP       copy256

copymerge:
	MERGE
	FOLD_BLOCKS_COPY(64, Z6, Z3, Z7, Z10, copy64, copylanes)

copylanes:
	LANES
	FOLD_BLOCKS_COPY(16, X4, X9, X7, X10, copy16, copyreduce)

copyreduce:
	REDUCE(ret+56(FP))
