#include "textflag.h"

// AVX2/FMA kernels for affine-quantized matrix-vector products.
//
// A block is 8 packed words (one ymm register, word j in lane j). For
// 4-bit codes, code 8j+k of the block sits in lane j at bits [4k, 4k+4).
// Masking the lane with 0xF<<4k leaves q·16^k, which converts to float
// exactly; the caller prepared xp so that xp[8k+j] = x[8j+k]·16^-k, hence
// one AND, one CVT and one multiply-add per 8 codes and no shifts (except
// for the top code, shifted down to stay within int32). 8-bit codes work
// the same with 4 codes per word.
//
// Every block load is preceded by a prefetch 2 KiB ahead: decode streams
// each weight once, and the hardware prefetcher alone left a single core
// at a third of the streaming-read bandwidth (measured on AMD EPYC Zen 4).
//
// A pre-pass (prepAVX2) widens a chunk of rows' scales to f32 and
// computes their bias terms Σ_j bias_j·xsum_j, 8 groups per step; the main
// loop then needs one broadcast and one FMA per group for the scale.

// func prepAVX2(sbuf *float32, bterm *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)
//
// For each of rows rows: widens the row's scales to f32 and multiplies
// them by step[j] into sbuf (groups floats per row), and stores
// Σ_j bias_j·xsum_j into bterm[row]; 8 groups per step with a scalar tail.
// kind: 0 bf16, 1 f16, 2 f32.
TEXT ·prepAVX2(SB), NOSPLIT, $0-72
	MOVQ sbuf+0(FP), R12
	MOVQ bterm+8(FP), DI
	MOVQ scales+16(FP), R8
	MOVQ biases+24(FP), R9
	MOVQ rows+40(FP), CX
	MOVQ kind+56(FP), DX

prow:
	MOVQ xsum+32(FP), R11
	MOVQ step+64(FP), R14
	MOVQ groups+48(FP), R13
	VXORPS Y7, Y7, Y7
	VXORPS X4, X4, X4
	CMPQ DX, $1
	JEQ pf16
	JGT pf32

pbf16:
	CMPQ R13, $8
	JLT pbf16t
	VPMOVZXWD (R8), Y5
	VPSLLD $16, Y5, Y5
	VMULPS (R14), Y5, Y5
	VMOVUPS Y5, (R12)
	ADDQ $32, R14
	VPMOVZXWD (R9), Y6
	VPSLLD $16, Y6, Y6
	VFMADD231PS (R11), Y6, Y7
	ADDQ $16, R8
	ADDQ $16, R9
	ADDQ $32, R12
	ADDQ $32, R11
	SUBQ $8, R13
	JMP pbf16
pbf16t:
	TESTQ R13, R13
	JZ pdone
	MOVWLZX (R8), AX
	SHLL $16, AX
	VMOVD AX, X5
	VMULSS (R14), X5, X5
	VMOVSS X5, (R12)
	ADDQ $4, R14
	MOVWLZX (R9), AX
	SHLL $16, AX
	VMOVD AX, X6
	VFMADD231SS (R11), X6, X4
	ADDQ $2, R8
	ADDQ $2, R9
	ADDQ $4, R12
	ADDQ $4, R11
	DECQ R13
	JMP pbf16t

pf16:
	CMPQ R13, $8
	JLT pf16t
	VCVTPH2PS (R8), Y5
	VMULPS (R14), Y5, Y5
	VMOVUPS Y5, (R12)
	ADDQ $32, R14
	VCVTPH2PS (R9), Y6
	VFMADD231PS (R11), Y6, Y7
	ADDQ $16, R8
	ADDQ $16, R9
	ADDQ $32, R12
	ADDQ $32, R11
	SUBQ $8, R13
	JMP pf16
pf16t:
	TESTQ R13, R13
	JZ pdone
	MOVWLZX (R8), AX
	VMOVD AX, X5
	VCVTPH2PS X5, X5
	VMULSS (R14), X5, X5
	VMOVSS X5, (R12)
	ADDQ $4, R14
	MOVWLZX (R9), AX
	VMOVD AX, X6
	VCVTPH2PS X6, X6
	VFMADD231SS (R11), X6, X4
	ADDQ $2, R8
	ADDQ $2, R9
	ADDQ $4, R12
	ADDQ $4, R11
	DECQ R13
	JMP pf16t

pf32:
	CMPQ R13, $8
	JLT pf32t
	VMOVUPS (R8), Y5
	VMULPS (R14), Y5, Y5
	VMOVUPS Y5, (R12)
	ADDQ $32, R14
	VMOVUPS (R9), Y6
	VFMADD231PS (R11), Y6, Y7
	ADDQ $32, R8
	ADDQ $32, R9
	ADDQ $32, R12
	ADDQ $32, R11
	SUBQ $8, R13
	JMP pf32
pf32t:
	TESTQ R13, R13
	JZ pdone
	VMOVSS (R8), X5
	VMULSS (R14), X5, X5
	VMOVSS X5, (R12)
	ADDQ $4, R14
	VMOVSS (R9), X6
	VFMADD231SS (R11), X6, X4
	ADDQ $4, R8
	ADDQ $4, R9
	ADDQ $4, R12
	ADDQ $4, R11
	DECQ R13
	JMP pf32t

pdone:
	VEXTRACTF128 $1, Y7, X5
	VADDPS X5, X7, X7
	VHADDPS X7, X7, X7
	VHADDPS X7, X7, X7
	VADDSS X4, X7, X7
	VMOVSS X7, (DI)
	ADDQ $4, DI
	DECQ CX
	JNZ prow

	// R8 and R9 now point at the next chunk's scales and biases: prefetch
	// as many bytes as this chunk read, so that the next call (after the
	// kernel has streamed this chunk's words) finds them in cache.
	MOVQ R8, AX
	SUBQ scales+16(FP), AX
	XORQ R10, R10
ppref:
	CMPQ R10, AX
	JGE pprefdone
	PREFETCHT0 (R8)(R10*1)
	PREFETCHT0 (R9)(R10*1)
	ADDQ $64, R10
	JMP ppref
pprefdone:
	VZEROUPPER
	RET

// func matvec4AVX2(dst *float32, rows int, words *uint32, xp *float32, sbuf *float32, bterm *float32, groups int, bpg int)
//
// dst[r] = Σ_j sbuf[r·groups+j]·(Σ_{k in j} q·x) + bterm[r] for rows rows.
TEXT ·matvec4AVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11

	MOVL $0x0000000F, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VPSLLD $4, Y9, Y10
	VPSLLD $8, Y9, Y11
	VPSLLD $12, Y9, Y12
	VPSLLD $16, Y9, Y13
	VPSLLD $20, Y9, Y14
	VPSLLD $24, Y9, Y15

row4:
	MOVQ xp+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS Y8, Y8, Y8

group4:
	MOVQ bpg+56(FP), R13
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y4
	VPAND Y9, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VMULPS 0(R10), Y5, Y0
	VPAND Y10, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VMULPS 32(R10), Y6, Y1
	VPAND Y11, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VMULPS 64(R10), Y5, Y2
	VPAND Y12, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VMULPS 96(R10), Y6, Y3
	JMP rest4

block4:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y4
	VPAND Y9, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS 0(R10), Y5, Y0
	VPAND Y10, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 32(R10), Y6, Y1
	VPAND Y11, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS 64(R10), Y5, Y2
	VPAND Y12, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 96(R10), Y6, Y3
rest4:
	VPAND Y13, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS 128(R10), Y5, Y0
	VPAND Y14, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 160(R10), Y6, Y1
	VPAND Y15, Y4, Y7
	VCVTDQ2PS Y7, Y7
	VFMADD231PS 192(R10), Y7, Y2
	VPSRLD $28, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 224(R10), Y6, Y3
	ADDQ $32, SI
	ADDQ $256, R10
	DECQ R13
	JNZ block4

	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VBROADCASTSS (R12), Y5
	VFMADD231PS Y5, Y0, Y8
	ADDQ $4, R12
	DECQ BX
	JNZ group4

	VEXTRACTF128 $1, Y8, X0
	VADDPS X0, X8, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ row4
	VZEROUPPER
	RET

// func matvec8AVX2(dst *float32, rows int, words *uint32, xp *float32, sbuf *float32, bterm *float32, groups int, bpg int)
//
// dst[r] = Σ_j sbuf[r·groups+j]·(Σ_{k in j} q·x) + bterm[r] for rows rows.
TEXT ·matvec8AVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11

	MOVL $0x000000FF, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VPSLLD $8, Y9, Y10
	VPSLLD $16, Y9, Y11

row8:
	MOVQ xp+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS Y8, Y8, Y8

group8:
	MOVQ bpg+56(FP), R13
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y4
	VPAND Y9, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VMULPS 0(R10), Y5, Y0
	VPAND Y10, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VMULPS 32(R10), Y6, Y1
	JMP rest8

block8:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y4
	VPAND Y9, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS 0(R10), Y5, Y0
	VPAND Y10, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 32(R10), Y6, Y1
rest8:
	VPAND Y11, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VFMADD231PS 64(R10), Y5, Y0
	VPSRLD $24, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VFMADD231PS 96(R10), Y6, Y1
	ADDQ $32, SI
	ADDQ $128, R10
	DECQ R13
	JNZ block8

	VADDPS Y1, Y0, Y0
	VBROADCASTSS (R12), Y5
	VFMADD231PS Y5, Y0, Y8
	ADDQ $4, R12
	DECQ BX
	JNZ group8

	VEXTRACTF128 $1, Y8, X0
	VADDPS X0, X8, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ row8
	VZEROUPPER
	RET

// VNNI kernels (AVX-512 VNNI on 256-bit registers). x is encoded per group
// as a 23-bit fixed-point integer X = rint(x / step_j), step_j a power of
// two, split into three signed byte digits X = d2·65536 + d1·256 + d0.
// VPDPBUSD multiplies unsigned code bytes by signed digit bytes and adds
// groups of four products into int32 lanes, so a group's dot product is
// exact integer arithmetic per digit; the three digit sums are combined in
// f32 and scaled by scale_j·step_j (sbuf, from prepAVX2).
//
// 4-bit layout: a 32-byte block holds codes 2t (low nibble of byte t) and
// 2t+1 (high nibble). xd holds per block 192 bytes: d0 of even codes, d0
// of odd codes, d1 even, d1 odd, d2 even, d2 odd (32 bytes each).

// func matvec4VNNI(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int, bpg int)
TEXT ·matvec4VNNI(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11

	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	MOVL $0x47800000, AX // 65536.0
	VMOVD AX, X10
	VPBROADCASTD X10, Y10

vrow4:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS Y8, Y8, Y8

vgroup4:
	MOVQ bpg+56(FP), R13
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2

vblock4:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y3
	VPAND Y9, Y3, Y4
	VPSRLW $4, Y3, Y5
	VPAND Y9, Y5, Y5
	VPDPBUSD 0(R10), Y4, Y0
	VPDPBUSD 64(R10), Y4, Y1
	VPDPBUSD 128(R10), Y4, Y2
	VPDPBUSD 32(R10), Y5, Y0
	VPDPBUSD 96(R10), Y5, Y1
	VPDPBUSD 160(R10), Y5, Y2
	ADDQ $32, SI
	ADDQ $192, R10
	DECQ R13
	JNZ vblock4

	VPSLLD $8, Y1, Y1
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y10, Y2, Y0
	VBROADCASTSS (R12), Y6
	VFMADD231PS Y6, Y0, Y8
	ADDQ $4, R12
	DECQ BX
	JNZ vgroup4

	VEXTRACTF128 $1, Y8, X0
	VADDPS X0, X8, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ vrow4
	VZEROUPPER
	RET

// func matvec4VNNI64(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
//
// matvec4VNNI for groups of 64 (one block each), two groups per iteration
// with separate accumulators: one accumulator chain per row made the
// scale FMA's latency the limit.
TEXT ·matvec4VNNI64(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11

	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	MOVL $0x47800000, AX // 65536.0
	VMOVD AX, X10
	VPBROADCASTD X10, Y10

prow64:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS Y8, Y8, Y8
	VXORPS Y6, Y6, Y6
	CMPQ BX, $2
	JLT psingle64

ppair64:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y3
	VMOVDQU 32(SI), Y11
	VPAND Y9, Y3, Y4
	VPSRLW $4, Y3, Y5
	VPAND Y9, Y5, Y5
	VPAND Y9, Y11, Y12
	VPSRLW $4, Y11, Y13
	VPAND Y9, Y13, Y13
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y14, Y14, Y14
	VPXOR Y15, Y15, Y15
	VPXOR Y7, Y7, Y7
	VPDPBUSD 0(R10), Y4, Y0
	VPDPBUSD 64(R10), Y4, Y1
	VPDPBUSD 128(R10), Y4, Y2
	VPDPBUSD 192(R10), Y12, Y14
	VPDPBUSD 256(R10), Y12, Y15
	VPDPBUSD 320(R10), Y12, Y7
	VPDPBUSD 32(R10), Y5, Y0
	VPDPBUSD 96(R10), Y5, Y1
	VPDPBUSD 160(R10), Y5, Y2
	VPDPBUSD 224(R10), Y13, Y14
	VPDPBUSD 288(R10), Y13, Y15
	VPDPBUSD 352(R10), Y13, Y7
	ADDQ $64, SI
	ADDQ $384, R10

	VPSLLD $8, Y1, Y1
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y10, Y2, Y0
	VBROADCASTSS (R12), Y3
	VFMADD231PS Y3, Y0, Y8
	VPSLLD $8, Y15, Y15
	VPADDD Y15, Y14, Y14
	VCVTDQ2PS Y14, Y14
	VCVTDQ2PS Y7, Y7
	VFMADD231PS Y10, Y7, Y14
	VBROADCASTSS 4(R12), Y11
	VFMADD231PS Y11, Y14, Y6
	ADDQ $8, R12
	SUBQ $2, BX
	CMPQ BX, $2
	JGE ppair64

psingle64:
	TESTQ BX, BX
	JZ pend64
	VMOVDQU (SI), Y3
	VPAND Y9, Y3, Y4
	VPSRLW $4, Y3, Y5
	VPAND Y9, Y5, Y5
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPDPBUSD 0(R10), Y4, Y0
	VPDPBUSD 64(R10), Y4, Y1
	VPDPBUSD 128(R10), Y4, Y2
	VPDPBUSD 32(R10), Y5, Y0
	VPDPBUSD 96(R10), Y5, Y1
	VPDPBUSD 160(R10), Y5, Y2
	ADDQ $32, SI
	VPSLLD $8, Y1, Y1
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y10, Y2, Y0
	VBROADCASTSS (R12), Y3
	VFMADD231PS Y3, Y0, Y8
	ADDQ $4, R12

pend64:
	VADDPS Y6, Y8, Y8
	VEXTRACTF128 $1, Y8, X0
	VADDPS X0, X8, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ prow64
	VZEROUPPER
	RET

// 4-bit codes in groups of 32: the same with 16-byte blocks (one group
// each) in xmm registers; xd holds 96 bytes per block.

// func matvec4VNNI32(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
TEXT ·matvec4VNNI32(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11

	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X9
	VPBROADCASTD X9, X9
	MOVL $0x47800000, AX // 65536.0
	VMOVD AX, X10
	VPBROADCASTD X10, X10

wrow4:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS X8, X8, X8

wgroup4:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), X3
	VPAND X9, X3, X4
	VPSRLW $4, X3, X5
	VPAND X9, X5, X5
	VPXOR X0, X0, X0
	VPXOR X1, X1, X1
	VPXOR X2, X2, X2
	VPDPBUSD 0(R10), X4, X0
	VPDPBUSD 32(R10), X4, X1
	VPDPBUSD 64(R10), X4, X2
	VPDPBUSD 16(R10), X5, X0
	VPDPBUSD 48(R10), X5, X1
	VPDPBUSD 80(R10), X5, X2
	ADDQ $16, SI
	ADDQ $96, R10

	VPSLLD $8, X1, X1
	VPADDD X1, X0, X0
	VCVTDQ2PS X0, X0
	VCVTDQ2PS X2, X2
	VFMADD231PS X10, X2, X0
	VBROADCASTSS (R12), X6
	VFMADD231PS X6, X0, X8
	ADDQ $4, R12
	DECQ BX
	JNZ wgroup4

	VHADDPS X8, X8, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ wrow4
	VZEROUPPER
	RET

// 8-bit layout: each byte is one code; xd holds per 32-code block 96
// bytes: d0, d1, d2 of the block's codes in order.

// func matvec8VNNI(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int, bpg int)
TEXT ·matvec8VNNI(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11
	MOVL $0x47800000, AX // 65536.0
	VMOVD AX, X10
	VPBROADCASTD X10, Y10

vrow8:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS Y8, Y8, Y8

vgroup8:
	MOVQ bpg+56(FP), R13
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2

vblock8:
	PREFETCHT0 2048(SI)
	VMOVDQU (SI), Y3
	VPDPBUSD 0(R10), Y3, Y0
	VPDPBUSD 32(R10), Y3, Y1
	VPDPBUSD 64(R10), Y3, Y2
	ADDQ $32, SI
	ADDQ $96, R10
	DECQ R13
	JNZ vblock8

	VPSLLD $8, Y1, Y1
	VPADDD Y1, Y0, Y0
	VCVTDQ2PS Y0, Y0
	VCVTDQ2PS Y2, Y2
	VFMADD231PS Y10, Y2, Y0
	VBROADCASTSS (R12), Y6
	VFMADD231PS Y6, Y0, Y8
	ADDQ $4, R12
	DECQ BX
	JNZ vgroup8

	VEXTRACTF128 $1, Y8, X0
	VADDPS X0, X8, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VADDSS (R11), X0, X0
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, R11
	DECQ CX
	JNZ vrow8
	VZEROUPPER
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
