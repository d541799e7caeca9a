#include "textflag.h"

// FLUSH_LINES is the body of each flush function: AX = p rounded down to
// a line, BX = p+n; INSN each line while AX < BX.
#define FLUSH_LINES(INSN) \
	MOVQ p+0(FP), AX; \
	MOVQ n+8(FP), BX; \
	ADDQ AX, BX; \
	ANDQ $~63, AX; \
loop: \
	INSN (AX); \
	ADDQ $64, AX; \
	CMPQ AX, BX; \
	JB   loop; \
	RET

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func flushCLWB(p unsafe.Pointer, n uintptr)
TEXT ·flushCLWB(SB), NOSPLIT, $0-16
	FLUSH_LINES(CLWB)

// func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSHOPT(SB), NOSPLIT, $0-16
	FLUSH_LINES(CLFLUSHOPT)

// func flushCLFLUSH(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSH(SB), NOSPLIT, $0-16
	FLUSH_LINES(CLFLUSH)

// func sfence()
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET
