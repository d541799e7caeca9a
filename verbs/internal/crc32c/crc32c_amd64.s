#include "textflag.h"

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
	ADDQ      $256, SI
	SUBQ      $256, CX

	// Each accumulator folds 2048 bits onto the next 256-byte block; the
	// four multiply chains are independent, so the loop runs at the
	// multiplier's throughput rather than its latency.
	VBROADCASTI32X4 0(DX), Z4

loop256:
	CMPQ       CX, $256
	JB         merge
	VPCLMULQDQ $0x00, Z4, Z0, Z5
	VPCLMULQDQ $0x11, Z4, Z0, Z0
	VPCLMULQDQ $0x00, Z4, Z1, Z6
	VPCLMULQDQ $0x11, Z4, Z1, Z1
	VPCLMULQDQ $0x00, Z4, Z2, Z7
	VPCLMULQDQ $0x11, Z4, Z2, Z2
	VPCLMULQDQ $0x00, Z4, Z3, Z8
	VPCLMULQDQ $0x11, Z4, Z3, Z3
	VPTERNLOGD $0x96, (SI), Z5, Z0
	VPTERNLOGD $0x96, 64(SI), Z6, Z1
	VPTERNLOGD $0x96, 128(SI), Z7, Z2
	VPTERNLOGD $0x96, 192(SI), Z8, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop256

merge:
	// Z0, Z1, Z2 fold 1536, 1024 and 512 bits onto Z3.
	VBROADCASTI32X4 16(DX), Z4
	VBROADCASTI32X4 32(DX), Z5
	VBROADCASTI32X4 48(DX), Z6
	VPCLMULQDQ      $0x00, Z4, Z0, Z7
	VPCLMULQDQ      $0x11, Z4, Z0, Z0
	VPCLMULQDQ      $0x00, Z5, Z1, Z8
	VPCLMULQDQ      $0x11, Z5, Z1, Z1
	VPCLMULQDQ      $0x00, Z6, Z2, Z9
	VPCLMULQDQ      $0x11, Z6, Z2, Z2
	VPTERNLOGD      $0x96, Z7, Z0, Z3
	VPTERNLOGD      $0x96, Z8, Z1, Z3
	VPTERNLOGD      $0x96, Z9, Z2, Z3

	// What is left in 64-byte blocks, 512 bits at a time (Z6).
loop64:
	CMPQ       CX, $64
	JB         lanes
	VPCLMULQDQ $0x00, Z6, Z3, Z7
	VPCLMULQDQ $0x11, Z6, Z3, Z3
	VPTERNLOGD $0x96, (SI), Z7, Z3
	ADDQ       $64, SI
	SUBQ       $64, CX
	JMP        loop64

lanes:
	// Lanes 0, 1, 2 fold 384, 256 and 128 bits onto lane 3 (whose
	// constants are zero), then the four lanes are xored into X9.
	VMOVDQU64     64(DX), Z4
	VPCLMULQDQ    $0x00, Z4, Z3, Z7
	VPCLMULQDQ    $0x11, Z4, Z3, Z8
	VEXTRACTI32X4 $3, Z3, X9
	VPTERNLOGD    $0x96, Z7, Z8, Z9
	VEXTRACTI64X4 $1, Z9, Y10
	VPXORQ        Y10, Y9, Y9
	VEXTRACTI32X4 $1, Y9, X10
	VPXORQ        X10, X9, X9

	// What is left in 16-byte blocks, 128 bits at a time.
	VMOVDQU 96(DX), X4

loop16:
	CMPQ       CX, $16
	JB         reduce
	VPCLMULQDQ $0x00, X4, X9, X7
	VPCLMULQDQ $0x11, X4, X9, X9
	VPTERNLOGD $0x96, (SI), X7, X9
	ADDQ       $16, SI
	SUBQ       $16, CX
	JMP        loop16

reduce:
	// 128 bits to 64: the low half times x^96 onto the high half.
	VMOVDQU    128(DX), X4
	VMOVDQU    160(DX), X5
	VPCLMULQDQ $0x00, X4, X9, X7
	VPSRLDQ    $8, X9, X9
	VPXORQ     X7, X9, X9

	// 64 bits (in 96) to 64: the low 32 bits times x^64 onto the rest.
	VPSRLDQ    $4, X9, X8
	VPANDQ     X5, X9, X9
	VPCLMULQDQ $0x10, X4, X9, X9
	VPXORQ     X8, X9, X9

	// Barrett: q = (top 32 * mu) top 32, crc = (R - q*P) low 32, which
	// the reflection puts in dword 1.
	VMOVDQU    144(DX), X4
	VPANDQ     X5, X9, X7
	VPCLMULQDQ $0x10, X4, X7, X7
	VPANDQ     X5, X7, X7
	VPCLMULQDQ $0x00, X4, X7, X7
	VPXORQ     X9, X7, X7
	VPEXTRD    $1, X7, AX
	MOVL       AX, ret+32(FP)
	VZEROUPPER
	RET
