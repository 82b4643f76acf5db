//go:build !purego

#include "textflag.h"

// Exact-order kernels for RMSNorm and RoPE (see norm.go): plain multiplies
// and adds, no FMA, so each product is rounded as the Go versions round it.

// func sumSqLanesAVX2(x *float32, n int, acc *[8]float32)
// acc[j] = Σ x[8i+j]² for n (a positive multiple of 8) values, in order.
TEXT ·sumSqLanesAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ acc+16(FP), DI
	VXORPS Y0, Y0, Y0

ssq_loop:
	VMOVUPS (SI), Y1
	VMULPS Y1, Y1, Y1
	VADDPS Y1, Y0, Y0
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  ssq_loop
	VMOVUPS Y0, (DI)
	VZEROUPPER
	RET

// func scaleMulAVX2(y, x, w *float32, n int, r float32)
// y[i] = w[i]·(x[i]·r) for n (a positive multiple of 8) values.
TEXT ·scaleMulAVX2(SB), NOSPLIT, $0-36
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS r+32(FP), Y2

sm_loop:
	VMULPS (SI), Y2, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  sm_loop
	VZEROUPPER
	RET

// func rotateAVX2(y1, y2, x1, x2, c, s *float32, n int)
// y1 = x1·c − x2·s, y2 = x2·c + x1·s for n (a positive multiple of 8).
TEXT ·rotateAVX2(SB), NOSPLIT, $0-56
	MOVQ y1+0(FP), DI
	MOVQ y2+8(FP), R8
	MOVQ x1+16(FP), SI
	MOVQ x2+24(FP), R9
	MOVQ c+32(FP), R10
	MOVQ s+40(FP), R11
	MOVQ n+48(FP), CX
	XORQ AX, AX

rot_loop:
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS (R9)(AX*4), Y1
	VMOVUPS (R10)(AX*4), Y2
	VMOVUPS (R11)(AX*4), Y3
	VMULPS Y2, Y0, Y4
	VMULPS Y3, Y1, Y5
	VSUBPS Y5, Y4, Y4
	VMULPS Y2, Y1, Y6
	VMULPS Y3, Y0, Y7
	VADDPS Y7, Y6, Y6
	VMOVUPS Y4, (DI)(AX*4)
	VMOVUPS Y6, (R8)(AX*4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  rot_loop
	VZEROUPPER
	RET
