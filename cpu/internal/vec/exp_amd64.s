//go:build !purego

#include "textflag.h"

// Vectorised exp (Cephes expf: n = round(x·log2 e), r = x − n·ln 2 in two
// parts, a degree-6 polynomial, then scaling by 2^n), about one ulp.
// Constants are 8-lane vectors so they can be memory operands.

#define VEC8(name, off, v) \
	DATA name+(off)(SB)/4, v; DATA name+(off+4)(SB)/4, v; DATA name+(off+8)(SB)/4, v; DATA name+(off+12)(SB)/4, v; \
	DATA name+(off+16)(SB)/4, v; DATA name+(off+20)(SB)/4, v; DATA name+(off+24)(SB)/4, v; DATA name+(off+28)(SB)/4, v

VEC8(expc<>, 0, $0x42ae999a)   // hi  87.3
VEC8(expc<>, 32, $0xc2ae999a)  // lo -87.3
VEC8(expc<>, 64, $0x3fb8aa3b)  // log2 e
VEC8(expc<>, 96, $0x3f318000)  // C1 0.693359375
VEC8(expc<>, 128, $0xb95e8083) // C2 -2.12194440e-4
VEC8(expc<>, 160, $0x39506967) // p0 1.9875691500e-4
VEC8(expc<>, 192, $0x3ab743ce) // p1 1.3981999507e-3
VEC8(expc<>, 224, $0x3c088908) // p2 8.3334519073e-3
VEC8(expc<>, 256, $0x3d2aa9c1) // p3 4.1665795894e-2
VEC8(expc<>, 288, $0x3e2aaaaa) // p4 1.6666665459e-1
VEC8(expc<>, 320, $0x3f000000) // p5 5.0000001201e-1
VEC8(expc<>, 352, $0x3f800000) // 1
VEC8(expc<>, 384, $127)        // exponent bias
VEC8(expc<>, 416, $0x80000000) // sign
GLOBL expc<>(SB), RODATA|NOPTR, $448

// EXP computes Y0 = exp(Y0), using Y1..Y4.
#define EXP \
	VMINPS expc<>+0(SB), Y0, Y0; \
	VMAXPS expc<>+32(SB), Y0, Y0; \
	VMULPS expc<>+64(SB), Y0, Y1; \
	VROUNDPS $0, Y1, Y1; \
	VMOVAPS Y0, Y2; \
	VFNMADD231PS expc<>+96(SB), Y1, Y2; \
	VFNMADD231PS expc<>+128(SB), Y1, Y2; \
	VMULPS Y2, Y2, Y3; \
	VMOVUPS expc<>+160(SB), Y4; \
	VFMADD213PS expc<>+192(SB), Y2, Y4; \
	VFMADD213PS expc<>+224(SB), Y2, Y4; \
	VFMADD213PS expc<>+256(SB), Y2, Y4; \
	VFMADD213PS expc<>+288(SB), Y2, Y4; \
	VFMADD213PS expc<>+320(SB), Y2, Y4; \
	VFMADD213PS Y2, Y3, Y4; \
	VADDPS expc<>+352(SB), Y4, Y4; \
	VCVTPS2DQ Y1, Y1; \
	VPADDD expc<>+384(SB), Y1, Y1; \
	VPSLLD $23, Y1, Y1; \
	VMULPS Y1, Y4, Y0

// func expAVX2(dst, src *float32, n int)
TEXT ·expAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
exp_loop:
	CMPQ CX, $8
	JL   exp_done
	VMOVUPS (SI), Y0
	VCMPPS $1, expc<>+32(SB), Y0, Y6 // x < -87.3: the result underflows to 0
	EXP
	VANDNPS Y0, Y6, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  exp_loop
exp_done:
	VZEROUPPER
	RET

// func siluAVX2(dst, src *float32, n int): x / (1 + exp(-x))
TEXT ·siluAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
silu_loop:
	CMPQ CX, $8
	JL   silu_done
	VMOVUPS (SI), Y5
	VCMPPS $1, expc<>+32(SB), Y5, Y6 // x < -87.3: silu(x) underflows to 0
	VXORPS expc<>+416(SB), Y5, Y0
	EXP
	VADDPS expc<>+352(SB), Y0, Y0
	VDIVPS Y0, Y5, Y0
	VANDNPS Y0, Y6, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  silu_loop
silu_done:
	VZEROUPPER
	RET

// func swigluAVX2(dst, gate, up *float32, n int): silu(g) * u
TEXT ·swigluAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), DX
	MOVQ n+24(FP), CX
swiglu_loop:
	CMPQ CX, $8
	JL   swiglu_done
	VMOVUPS (SI), Y5
	VCMPPS $1, expc<>+32(SB), Y5, Y6
	VXORPS expc<>+416(SB), Y5, Y0
	EXP
	VADDPS expc<>+352(SB), Y0, Y0
	VDIVPS Y0, Y5, Y0
	VANDNPS Y0, Y6, Y0
	VMULPS (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  swiglu_loop
swiglu_done:
	VZEROUPPER
	RET
