package crc32c

import "golang.org/x/sys/cpu"

// useFold says whether fold can run here; a variable so that tests can
// force the fallback.
var useFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ

// fold returns the CRC register (not inverted) after crc has taken in p,
// by carry-less multiplication: four zmm accumulators each fold 64 bytes
// 2048 bits forward per step, are folded into one, then into 128 bits,
// which Barrett reduction brings to 32. len(p) must be at least 256 and a
// multiple of 16. Written from Intel's "Fast CRC Computation for Generic
// Polynomials Using PCLMULQDQ Instruction".
//
//go:noescape
func fold(crc uint32, p []byte) uint32

// foldConsts are the multipliers fold loads, at these byte offsets
// (TestFoldConsts generates and checks them): each pair folds a 128-bit
// lane d bits forward, foldK(d+32) for its low half and foldK(d-32) for its
// high half.
//
//	  0  d=2048: the four-accumulator loop
//	 16  d=1536, 32 d=1024, 48 d=512: accumulators into one; 48 also the 64-byte loop
//	 64  d=384, 256, 128, and zero for lane 3: a zmm into one lane; 96 also the 16-byte loop
//	128  x^96, x^64: 128 bits to 64, 64 to 32
//	144  P', mu': Barrett reduction
//	160  a mask of the low 32 bits
var foldConsts = [...]uint64{
	0xdcb17aa4, 0xb9e02b86, // d=2048
	0xa87ab8a8, 0xab7aff2a, // d=1536
	0x6992cea2, 0x0d3b6092, // d=1024
	0x740eef02, 0x9e4addf8, // d=512
	0x1c291d04, 0x1d82c63da, // d=384
	0x1384aa63a, 0xba4fc28e, // d=256
	0xf20c0dfe, 0x14cd00bd6, // d=128
	0, 0,
	0x14cd00bd6, 0xdd45aab8,
	0x105ec76f1, 0xdea713f1,
	0xffffffff, 0,
}

// foldCopy is fold that also copies p into dst (of p's length), folding
// the bytes as it stores them: the CRC is of dst even if p changes
// meanwhile.
//
//go:noescape
func foldCopy(crc uint32, dst, p []byte) uint32
