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
// Every block load is preceded by a prefetch into L2 16 KiB ahead: decode
// streams each weight once, and the hardware prefetcher alone left a
// single core at a third of the streaming-read bandwidth. Prefetching into
// L1 (PREFETCHT0) 2-4 KiB ahead was 30-50% slower than into L2 16 KiB
// ahead: L1's few miss buffers limited how much was in flight (measured
// on AMD EPYC Zen 4, BenchmarkMatVec).
//
// A pre-pass (prepAVX2) widens a chunk of rows' scales to f32 and
// computes their bias terms Σ_j bias_j·xsum_j, 8 groups per step; the main
// loop then needs one broadcast and one FMA per group for the scale.

// PREP_RETURN ends a scale pass. R8 and R9 point at the next chunk's
// scales and biases: it prefetches the next three chunks' into L2 (the
// first two were asked for by the calls before), so that they arrive while
// the kernel streams words, and returns.
#define PREP_RETURN(loop, done) \
	MOVQ R8, AX \
	SUBQ scales+16(FP), AX \
	IMULQ $3, AX \
	XORQ R10, R10 \
loop: \
	CMPQ R10, AX \
	JGE  done \
	PREFETCHT1 (R8)(R10*1) \
	PREFETCHT1 (R9)(R10*1) \
	ADDQ $64, R10 \
	JMP  loop \
done: \
	VZEROUPPER \
	RET

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

	PREP_RETURN(ppref, pprefdone)

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
	PREFETCHT1 16384(SI)
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
	PREFETCHT1 16384(SI)
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
	PREFETCHT1 16384(SI)
	VMOVDQU (SI), Y4
	VPAND Y9, Y4, Y5
	VCVTDQ2PS Y5, Y5
	VMULPS 0(R10), Y5, Y0
	VPAND Y10, Y4, Y6
	VCVTDQ2PS Y6, Y6
	VMULPS 32(R10), Y6, Y1
	JMP rest8

block8:
	PREFETCHT1 16384(SI)
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
// exact integer arithmetic per digit, scaled by scale_j·step_j (sbuf, from
// prepAVX2).
//
// The 4-bit kernels combine the digits in one int32 accumulator, Horner
// style: acc = d2 sums, acc<<8 + d1 sums, acc<<8 + d0 sums. A lane adds
// eight products q·X (|q| ≤ 15, |X| ≤ 2^22), so |acc| < 2^29 never
// overflows, and its one conversion to f32 rounds the exact sum once,
// which is what the 8-bit kernel's f32 combine (d01 + 65536·d2 in one
// FMA) does too; against that combine it saves two conversions, an add,
// an FMA and two zeroed accumulators per block: +3% in cache (AMD EPYC
// Zen 4, where the kernel is bound by VPDPBUSD at one zmm per cycle). The
// 8-bit kernel keeps three accumulators: its lanes add up to 16 products
// of q ≤ 255, which could overflow int32.
//
// 4-bit layout: a 32-byte block holds codes 2t (low nibble of byte t) and
// 2t+1 (high nibble). xd holds per block 192 bytes: d0 of even codes, d0
// of odd codes, d1 even, d1 odd, d2 even, d2 odd (32 bytes each).

// HORNER3 sets acc to a block's int32 lane sums Σ q·X, combining the
// digits as above: lo and hi hold the even and odd codes, d2e … d0o are the
// x planes (digit 2 even, digit 2 odd, digit 1 even, …, digit 0 odd), as
// registers or memory operands of acc's width. The two-row kernels write
// the same steps out with the rows interleaved.
#define HORNER3(acc, lo, hi, d2e, d2o, d1e, d1o, d0e, d0o) \
	VPXORD acc, acc, acc \
	VPDPBUSD d2e, lo, acc \
	VPDPBUSD d2o, hi, acc \
	VPSLLD $8, acc, acc \
	VPDPBUSD d1e, lo, acc \
	VPDPBUSD d1o, hi, acc \
	VPSLLD $8, acc, acc \
	VPDPBUSD d0e, lo, acc \
	VPDPBUSD d0o, hi, acc

// ODDBLOCK4 adds one row's odd last 64-code block, in the single-block
// layout, to the ymm accumulator odd: the codes at w (32 bytes), times x's
// planes d2e … d0o (registers or memory operands), times the group's
// scale broadcast from s. lo, hi, acc and sc are ymm scratch registers;
// Y9 holds the nibble mask. The zmm kernels end every row with an odd
// block this way; a ymm write clears its zmm's upper half, so odd is
// not the row's zmm sum.
#define ODDBLOCK4(w, s, odd, lo, hi, acc, sc, d2e, d2o, d1e, d1o, d0e, d0o) \
	VMOVDQU64 w, hi \
	VPANDD Y9, hi, lo \
	VPSRLW $4, hi, hi \
	VPANDD Y9, hi, hi \
	HORNER3(acc, lo, hi, d2e, d2o, d1e, d1o, d0e, d0o) \
	VCVTDQ2PS acc, acc \
	VBROADCASTSS s, sc \
	VFMADD231PS sc, acc, odd

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

wrow4:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VXORPS X8, X8, X8

wgroup4:
	PREFETCHT1 16384(SI)
	VMOVDQU (SI), X3
	VPAND X9, X3, X4
	VPSRLW $4, X3, X5
	VPAND X9, X5, X5
	HORNER3(X0, X4, X5, 64(R10), 80(R10), 32(R10), 48(R10), 0(R10), 16(R10))
	ADDQ $16, SI
	ADDQ $96, R10

	VCVTDQ2PS X0, X0
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
	PREFETCHT1 16384(SI)
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

// AVX-512 VNNI kernels for 4-bit codes in groups of 64 and 128, on zmm
// registers: one 64-byte load holds two 64-code blocks (two groups of 64,
// or one group of 128), and each VPDPBUSD multiplies 64 codes by 64 bytes
// of one digit plane of x. prepareFixed lays x out per pair of blocks
// A, B as d0 even (A, B), d0 odd, d1 even, d1 odd, d2 even, d2 odd, 64
// bytes each, so that dword lanes 0-7 of every accumulator belong to
// block A and lanes 8-15 to block B. A row with an odd number of blocks
// ends with one block in the single-block layout (32-byte planes), taken
// with ymm registers like matvec4VNNI64.

// PAIR4 multiplies the pair of blocks at (SI) with the x planes at (R10)
// and leaves the pair's 16 lane sums, as f32 but not yet scaled, in Z0.
#define PAIR4 \
	PREFETCHT1 16384(SI) \
	VMOVDQU64 (SI), Z3 \
	VPANDD Z9, Z3, Z4 \
	VPSRLW $4, Z3, Z5 \
	VPANDD Z9, Z5, Z5 \
	HORNER3(Z0, Z4, Z5, 256(R10), 320(R10), 128(R10), 192(R10), 0(R10), 64(R10)) \
	VCVTDQ2PS Z0, Z0 \
	ADDQ $64, SI \
	ADDQ $384, R10

// The nibble mask.
#define SETUP4 \
	MOVL $0x0F0F0F0F, AX \
	VPBROADCASTD AX, Z9

// ROWEND4 adds the row's lanes (Z8, Z6; Z8 started as the row's bias
// partials) and stores the sum. The lanes are added in the order
// X2ROWEND uses, so a row's result does not depend on whether it was
// taken alone or in a pair.
#define ROWEND4 \
	VADDPS Z6, Z8, Z8 \
	VEXTRACTF64X4 $1, Z8, Y0 \
	VADDPS Y0, Y8, Y0 \
	VHADDPS Y0, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS X1, X0, X0 \
	VHADDPS X0, X0, X0 \
	VMOVSS X0, (DI) \
	ADDQ $4, DI \
	ADDQ $64, R11

// func matvec4VNNI512g64(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
//
// One row at a time (matvec4VNNI512g64x4 and x2 take rows in fours and
// pairs and leave an odd one to this). Groups of 64: a pair is two groups, whose scales sbuf[j], sbuf[j+1]
// VPERMPS spreads over lanes 0-7 and 8-15 (it reads 64 bytes of sbuf,
// which the caller pads).
TEXT ·matvec4VNNI512g64(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11
	SETUP4
	MOVQ $·pairIndex(SB), AX
	VMOVDQU64 (AX), Z16

z64row:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VMOVUPS (R11), Z8 // the row's bias partials
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

z64pair:
	CMPQ BX, $2
	JLT z64single
	PAIR4
	VPERMPS (R12), Z16, Z3
	VFMADD231PS Z3, Z0, Z8
	ADDQ $8, R12
	SUBQ $2, BX
	JMP z64pair

z64single:
	TESTQ BX, BX
	JZ z64end
	ODDBLOCK4((SI), (R12), Y7, Y4, Y5, Y0, Y3, 128(R10), 160(R10), 64(R10), 96(R10), 0(R10), 32(R10))
	ADDQ $32, SI
	ADDQ $4, R12

z64end:
	VADDPS Z7, Z8, Z8
	ROWEND4
	DECQ CX
	JNZ z64row
	VZEROUPPER
	RET

// func matvec4VNNI512g128(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
//
// Groups of 128: a pair is one group, one scale.
TEXT ·matvec4VNNI512g128(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11
	SETUP4

z128row:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VMOVUPS (R11), Z8 // the row's bias partials
	VPXORD Z6, Z6, Z6
	CMPQ BX, $2
	JLT z128one

z128two:
	PAIR4
	VBROADCASTSS (R12), Z3
	VFMADD231PS Z3, Z0, Z8
	PAIR4
	VBROADCASTSS 4(R12), Z3
	VFMADD231PS Z3, Z0, Z6
	ADDQ $8, R12
	SUBQ $2, BX
	CMPQ BX, $2
	JGE z128two

z128one:
	TESTQ BX, BX
	JZ z128end
	PAIR4
	VBROADCASTSS (R12), Z3
	VFMADD231PS Z3, Z0, Z8
	ADDQ $4, R12

z128end:
	ROWEND4
	DECQ CX
	JNZ z128row
	VZEROUPPER
	RET

// pairIndex spreads two scales over the lanes of two blocks.
DATA ·pairIndex+0(SB)/8, $0
DATA ·pairIndex+8(SB)/8, $0
DATA ·pairIndex+16(SB)/8, $0
DATA ·pairIndex+24(SB)/8, $0
DATA ·pairIndex+32(SB)/8, $0x0000000100000001
DATA ·pairIndex+40(SB)/8, $0x0000000100000001
DATA ·pairIndex+48(SB)/8, $0x0000000100000001
DATA ·pairIndex+56(SB)/8, $0x0000000100000001
GLOBL ·pairIndex(SB), RODATA|NOPTR, $64

// PAIR4X2 is PAIR4 for two rows at once (codes at (SI) and (SI)(R13*1)),
// so each x plane is loaded once for both: the single-row kernel issues
// seven 64-byte loads per 128 weights, which bounded it in cache. Lane
// sums (f32, unscaled) are left in Z0 (first row) and Z11 (second row).
#define PAIR4X2 \
	PREFETCHT1 16384(SI) \
	PREFETCHT1 16384(SI)(R13*1) \
	VMOVDQU64 0(R10), Z20 \
	VMOVDQU64 64(R10), Z21 \
	VMOVDQU64 128(R10), Z22 \
	VMOVDQU64 192(R10), Z23 \
	VMOVDQU64 256(R10), Z24 \
	VMOVDQU64 320(R10), Z25 \
	VMOVDQU64 (SI), Z3 \
	VMOVDQU64 (SI)(R13*1), Z12 \
	VPANDD Z9, Z3, Z4 \
	VPSRLW $4, Z3, Z5 \
	VPANDD Z9, Z5, Z5 \
	VPANDD Z9, Z12, Z13 \
	VPSRLW $4, Z12, Z14 \
	VPANDD Z9, Z14, Z14 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z11, Z11, Z11 \
	VPDPBUSD Z24, Z4, Z0 \
	VPDPBUSD Z24, Z13, Z11 \
	VPDPBUSD Z25, Z5, Z0 \
	VPDPBUSD Z25, Z14, Z11 \
	VPSLLD $8, Z0, Z0 \
	VPSLLD $8, Z11, Z11 \
	VPDPBUSD Z22, Z4, Z0 \
	VPDPBUSD Z22, Z13, Z11 \
	VPDPBUSD Z23, Z5, Z0 \
	VPDPBUSD Z23, Z14, Z11 \
	VPSLLD $8, Z0, Z0 \
	VPSLLD $8, Z11, Z11 \
	VPDPBUSD Z20, Z4, Z0 \
	VPDPBUSD Z20, Z13, Z11 \
	VPDPBUSD Z21, Z5, Z0 \
	VPDPBUSD Z21, Z14, Z11 \
	VCVTDQ2PS Z0, Z0 \
	VCVTDQ2PS Z11, Z11 \
	ADDQ $64, SI \
	ADDQ $384, R10

// func matvec4VNNI512g64x2(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
//
// matvec4VNNI512g64 for an even number of rows, two at a time.
TEXT ·matvec4VNNI512g64x2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	SHRQ $1, CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11
	MOVQ groups+48(FP), R13
	SHLQ $5, R13 // bytes per row of codes: 32 per group
	MOVQ groups+48(FP), R14
	SHLQ $2, R14 // bytes per row of sbuf
	SETUP4
	MOVQ $·pairIndex(SB), AX
	VMOVDQU64 (AX), Z16

x2row:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VMOVUPS (R11), Z8 // the rows' bias partials
	VMOVUPS 64(R11), Z18
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	CMPQ BX, $2
	JLT x2single

x2pair:
	PAIR4X2
	VPERMPS (R12), Z16, Z19
	VFMADD231PS Z19, Z0, Z8
	VPERMPS (R12)(R14*1), Z16, Z26
	VFMADD231PS Z26, Z11, Z18
	ADDQ $8, R12
	SUBQ $2, BX
	CMPQ BX, $2
	JGE x2pair

x2single:
	TESTQ BX, BX
	JZ x2end
	VMOVDQU64 0(R10), Y20
	VMOVDQU64 32(R10), Y21
	VMOVDQU64 64(R10), Y22
	VMOVDQU64 96(R10), Y23
	VMOVDQU64 128(R10), Y24
	VMOVDQU64 160(R10), Y25
	ODDBLOCK4((SI), (R12), Y27, Y4, Y5, Y0, Y19, Y24, Y25, Y22, Y23, Y20, Y21)
	ODDBLOCK4((SI)(R13*1), (R12)(R14*1), Y28, Y13, Y14, Y11, Y26, Y24, Y25, Y22, Y23, Y20, Y21)
	ADDQ $32, SI
	ADDQ $4, R12

x2end:
	VADDPS Z27, Z8, Z8
	VADDPS Z28, Z18, Z18
	// Both rows' lanes at once, in ROWEND4's order: [A B A B].
	VEXTRACTF64X4 $1, Z8, Y0
	VADDPS Y0, Y8, Y0
	VEXTRACTF64X4 $1, Z18, Y1
	VADDPS Y1, Y18, Y1
	VHADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VMOVSD X0, (DI)
	ADDQ $8, DI
	ADDQ $128, R11
	// The first row's codes and scales end where the second's begin:
	// skip the second's.
	ADDQ R13, SI
	ADDQ R14, R12
	DECQ CX
	JNZ x2row
	VZEROUPPER
	RET

// PAIR4X4 is PAIR4X2 for four rows (codes at (SI), (SI)(R13*1),
// (SI)(R13*2) and (SI)(DX*1)): each x plane loaded serves four rows. Lane
// sums (f32, unscaled) are left in Z0, Z11, Z7 and Z26.
#define PAIR4X4 \
	PREFETCHT1 16384(SI) \
	PREFETCHT1 16384(SI)(R13*1) \
	PREFETCHT1 16384(SI)(R13*2) \
	PREFETCHT1 16384(SI)(DX*1) \
	VMOVDQU64 0(R10), Z20 \
	VMOVDQU64 64(R10), Z21 \
	VMOVDQU64 128(R10), Z22 \
	VMOVDQU64 192(R10), Z23 \
	VMOVDQU64 256(R10), Z24 \
	VMOVDQU64 320(R10), Z25 \
	VMOVDQU64 (SI), Z3 \
	VMOVDQU64 (SI)(R13*1), Z12 \
	VMOVDQU64 (SI)(R13*2), Z1 \
	VMOVDQU64 (SI)(DX*1), Z15 \
	VPANDD Z9, Z3, Z4 \
	VPSRLW $4, Z3, Z5 \
	VPANDD Z9, Z5, Z5 \
	VPANDD Z9, Z12, Z13 \
	VPSRLW $4, Z12, Z14 \
	VPANDD Z9, Z14, Z14 \
	VPANDD Z9, Z1, Z2 \
	VPSRLW $4, Z1, Z6 \
	VPANDD Z9, Z6, Z6 \
	VPANDD Z9, Z15, Z17 \
	VPSRLW $4, Z15, Z19 \
	VPANDD Z9, Z19, Z19 \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z11, Z11, Z11 \
	VPXORD Z7, Z7, Z7 \
	VPXORD Z26, Z26, Z26 \
	VPDPBUSD Z24, Z4, Z0 \
	VPDPBUSD Z24, Z13, Z11 \
	VPDPBUSD Z24, Z2, Z7 \
	VPDPBUSD Z24, Z17, Z26 \
	VPDPBUSD Z25, Z5, Z0 \
	VPDPBUSD Z25, Z14, Z11 \
	VPDPBUSD Z25, Z6, Z7 \
	VPDPBUSD Z25, Z19, Z26 \
	VPSLLD $8, Z0, Z0 \
	VPSLLD $8, Z11, Z11 \
	VPSLLD $8, Z7, Z7 \
	VPSLLD $8, Z26, Z26 \
	VPDPBUSD Z22, Z4, Z0 \
	VPDPBUSD Z22, Z13, Z11 \
	VPDPBUSD Z22, Z2, Z7 \
	VPDPBUSD Z22, Z17, Z26 \
	VPDPBUSD Z23, Z5, Z0 \
	VPDPBUSD Z23, Z14, Z11 \
	VPDPBUSD Z23, Z6, Z7 \
	VPDPBUSD Z23, Z19, Z26 \
	VPSLLD $8, Z0, Z0 \
	VPSLLD $8, Z11, Z11 \
	VPSLLD $8, Z7, Z7 \
	VPSLLD $8, Z26, Z26 \
	VPDPBUSD Z20, Z4, Z0 \
	VPDPBUSD Z20, Z13, Z11 \
	VPDPBUSD Z20, Z2, Z7 \
	VPDPBUSD Z20, Z17, Z26 \
	VPDPBUSD Z21, Z5, Z0 \
	VPDPBUSD Z21, Z14, Z11 \
	VPDPBUSD Z21, Z6, Z7 \
	VPDPBUSD Z21, Z19, Z26 \
	VCVTDQ2PS Z0, Z0 \
	VCVTDQ2PS Z11, Z11 \
	VCVTDQ2PS Z7, Z7 \
	VCVTDQ2PS Z26, Z26 \
	ADDQ $64, SI \
	ADDQ $384, R10

// func matvec4VNNI512g64x4(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)
//
// matvec4VNNI512g64 for a multiple of four rows, four at a time: half the
// x-plane loads per row of the two-row kernel, and one horizontal
// reduction for four rows, in ROWEND4's order for each.
TEXT ·matvec4VNNI512g64x4(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ rows+8(FP), CX
	SHRQ $2, CX
	MOVQ words+16(FP), SI
	MOVQ sbuf+32(FP), R12
	MOVQ bterm+40(FP), R11
	MOVQ groups+48(FP), R13
	SHLQ $5, R13 // bytes per row of codes: 32 per group
	LEAQ (R13)(R13*2), DX // three rows of codes
	MOVQ groups+48(FP), R14
	SHLQ $2, R14 // bytes per row of sbuf
	LEAQ (R14)(R14*2), R8 // three rows of sbuf
	SETUP4
	MOVQ $·pairIndex(SB), AX
	VMOVDQU64 (AX), Z16

x4row:
	MOVQ xd+24(FP), R10
	MOVQ groups+48(FP), BX
	VMOVUPS 0(R11), Z8 // the rows' bias partials
	VMOVUPS 64(R11), Z18
	VMOVUPS 128(R11), Z10
	VMOVUPS 192(R11), Z27
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31
	VPXORD Z28, Z28, Z28
	CMPQ BX, $2
	JLT x4single

x4pair:
	PAIR4X4
	VPERMPS (R12), Z16, Z3
	VFMADD231PS Z3, Z0, Z8
	VPERMPS (R12)(R14*1), Z16, Z12
	VFMADD231PS Z12, Z11, Z18
	VPERMPS (R12)(R14*2), Z16, Z1
	VFMADD231PS Z1, Z7, Z10
	VPERMPS (R12)(R8*1), Z16, Z15
	VFMADD231PS Z15, Z26, Z27
	ADDQ $8, R12
	SUBQ $2, BX
	CMPQ BX, $2
	JGE x4pair

x4single:
	TESTQ BX, BX
	JZ x4end
	VMOVDQU64 0(R10), Y20
	VMOVDQU64 32(R10), Y21
	VMOVDQU64 64(R10), Y22
	VMOVDQU64 96(R10), Y23
	VMOVDQU64 128(R10), Y24
	VMOVDQU64 160(R10), Y25
	ODDBLOCK4((SI), (R12), Y29, Y4, Y5, Y0, Y3, Y24, Y25, Y22, Y23, Y20, Y21)
	ODDBLOCK4((SI)(R13*1), (R12)(R14*1), Y30, Y13, Y14, Y11, Y12, Y24, Y25, Y22, Y23, Y20, Y21)
	ODDBLOCK4((SI)(R13*2), (R12)(R14*2), Y31, Y2, Y6, Y7, Y1, Y24, Y25, Y22, Y23, Y20, Y21)
	ODDBLOCK4((SI)(DX*1), (R12)(R8*1), Y28, Y17, Y19, Y26, Y15, Y24, Y25, Y22, Y23, Y20, Y21)
	ADDQ $32, SI
	ADDQ $4, R12

x4end:
	VADDPS Z29, Z8, Z8
	VADDPS Z30, Z18, Z18
	VADDPS Z31, Z10, Z10
	VADDPS Z28, Z27, Z27
	// Four rows' lanes at once, each in ROWEND4's order: [A B C D].
	VEXTRACTF64X4 $1, Z8, Y3
	VADDPS Y3, Y8, Y3
	VEXTRACTF64X4 $1, Z18, Y12
	VADDPS Y12, Y18, Y12
	VEXTRACTF64X4 $1, Z10, Y1
	VADDPS Y1, Y10, Y1
	VEXTRACTF64X4 $1, Z27, Y15
	VADDPS Y15, Y27, Y15
	VHADDPS Y12, Y3, Y3
	VHADDPS Y15, Y1, Y1
	VEXTRACTF128 $1, Y3, X12
	VADDPS X12, X3, X3
	VEXTRACTF128 $1, Y1, X15
	VADDPS X15, X1, X1
	VHADDPS X1, X3, X3
	VMOVUPS X3, (DI)
	ADDQ $16, DI
	ADDQ $256, R11
	// The first row's codes and scales end where the second's begin:
	// skip the other three's.
	ADDQ DX, SI
	ADDQ R8, R12
	DECQ CX
	JNZ x4row
	VZEROUPPER
	RET

// func absMaxBits512(x *float32, n int) uint32
//
// The largest |x[i]| bit pattern (sign cleared) of n floats, n a multiple
// of 32; Inf and NaN patterns compare above every finite one.
TEXT ·absMaxBits512(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z3
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
amloop:
	VPANDD (SI), Z3, Z4
	VPMAXUD Z4, Z0, Z0
	VPANDD 64(SI), Z3, Z5
	VPMAXUD Z5, Z1, Z1
	ADDQ $128, SI
	SUBQ $32, CX
	JNZ amloop
	VPMAXUD Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPMAXUD Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMAXUD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPMAXUD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPMAXUD X1, X0, X0
	VMOVD X0, AX
	MOVL AX, ret+16(FP)
	VZEROUPPER
	RET

// func digits64x512(o *int8, stride int, x *float32, inv float32)
//
// Encodes a 64-code block for the 4-bit vnni kernels: X = rint(x·inv)
// (the product rounded to f32, then to an integer half to even, as
// VCVTPS2DQ does under the default rounding mode), split into signed
// digits X = d2·2^16 + d1·2^8 + d0, stored as planes d0 even, d0 odd, d1
// even, d1 odd, d2 even, d2 odd at o + P·stride (32 bytes each). Even and
// odd elements are the low and high dwords of each qword, which VPMOVQB
// narrows to bytes.
TEXT ·digits64x512(SB), NOSPLIT, $0-28
	MOVQ o+0(FP), DI
	MOVQ stride+8(FP), DX
	MOVQ x+16(FP), SI
	VBROADCASTSS inv+24(FP), Z7
	LEAQ (DX)(DX*2), R8 // 3·stride
	MOVQ $4, CX
dgloop:
	VMULPS (SI), Z7, Z0
	VCVTPS2DQ Z0, Z0 // X
	VPSLLD $24, Z0, Z1
	VPSRAD $24, Z1, Z1 // d0
	VPSUBD Z1, Z0, Z0
	VPSRAD $8, Z0, Z0 // X1
	VPSLLD $24, Z0, Z2
	VPSRAD $24, Z2, Z2 // d1
	VPSUBD Z2, Z0, Z0
	VPSRAD $8, Z0, Z0 // d2
	VPMOVQB Z1, (DI)
	VPSRLQ $32, Z1, Z1
	VPMOVQB Z1, (DI)(DX*1)
	VPMOVQB Z2, (DI)(DX*2)
	VPSRLQ $32, Z2, Z2
	VPMOVQB Z2, (DI)(R8*1)
	VPMOVQB Z0, (DI)(DX*4)
	VPSRLQ $32, Z0, Z0
	LEAQ (DI)(DX*4), R9
	VPMOVQB Z0, (R9)(DX*1)
	ADDQ $64, SI
	ADDQ $8, DI
	DECQ CX
	JNZ dgloop
	VZEROUPPER
	RET

// func prep2AVX2(sbuf *float32, bterm *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)
//
// prepAVX2 for groups a multiple of 8, two rows at a time: the rows share
// the loads of step and xsum, and their bias terms one horizontal
// reduction. Each row's lanes are summed in the same order whether it is
// one of a pair or the odd last row alone (whose partner is itself), so a
// row's result does not depend on how rows were split into chunks.
TEXT ·prep2AVX2(SB), NOSPLIT, $0-72
	MOVQ sbuf+0(FP), R12
	MOVQ bterm+8(FP), DI
	MOVQ scales+16(FP), R8
	MOVQ biases+24(FP), R9
	MOVQ rows+40(FP), CX
	MOVQ groups+48(FP), BX
	MOVQ BX, DX
	SHLQ $2, DX // sbuf bytes per row
	MOVQ $2, R10 // scale bytes per element
	CMPQ kind+56(FP), $2
	JNE  p2size
	MOVQ $4, R10
p2size:
	IMULQ BX, R10 // scale bytes per row

p2pair:
	// RAX: 0 for a pair, else the odd last row (its partner is itself).
	XORQ AX, AX
	CMPQ CX, $1
	JNE  p2go
	MOVQ R10, AX // offset of the partner: 0 below
p2go:
	MOVQ R10, SI
	SUBQ AX, SI // partner scale offset: R10 for a pair, 0 alone
	MOVQ DX, R13
	CMPQ CX, $1
	JNE  p2sb
	XORQ R13, R13 // partner sbuf offset: 0 alone (it rewrites the same values)
p2sb:
	MOVQ xsum+32(FP), R11
	MOVQ step+64(FP), R14
	XORQ AX, AX // byte offset into the row's scales
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	MOVQ groups+48(FP), BX
	CMPQ kind+56(FP), $1
	JEQ  p2f16
	JGT  p2f32

p2bf16:
	VMOVUPS (R11), Y3
	VMOVUPS (R14), Y4
	VPMOVZXWD (R8)(AX*1), Y5
	VPSLLD $16, Y5, Y5
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (R12)
	VPMOVZXWD (R9)(AX*1), Y6
	VPSLLD $16, Y6, Y6
	VFMADD231PS Y3, Y6, Y7
	ADDQ SI, AX
	VPMOVZXWD (R8)(AX*1), Y5
	VPSLLD $16, Y5, Y5
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (R12)(R13*1)
	VPMOVZXWD (R9)(AX*1), Y6
	VPSLLD $16, Y6, Y6
	VFMADD231PS Y3, Y6, Y8
	SUBQ SI, AX
	ADDQ $16, AX
	ADDQ $32, R11
	ADDQ $32, R14
	ADDQ $32, R12
	SUBQ $8, BX
	JNZ  p2bf16
	JMP  p2reduce

p2f16:
	VMOVUPS (R11), Y3
	VMOVUPS (R14), Y4
	VCVTPH2PS (R8)(AX*1), Y5
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (R12)
	VCVTPH2PS (R9)(AX*1), Y6
	VFMADD231PS Y3, Y6, Y7
	ADDQ SI, AX
	VCVTPH2PS (R8)(AX*1), Y5
	VMULPS Y4, Y5, Y5
	VMOVUPS Y5, (R12)(R13*1)
	VCVTPH2PS (R9)(AX*1), Y6
	VFMADD231PS Y3, Y6, Y8
	SUBQ SI, AX
	ADDQ $16, AX
	ADDQ $32, R11
	ADDQ $32, R14
	ADDQ $32, R12
	SUBQ $8, BX
	JNZ  p2f16
	JMP  p2reduce

p2f32:
	VMOVUPS (R11), Y3
	VMOVUPS (R14), Y4
	VMULPS (R8)(AX*1), Y4, Y5
	VMOVUPS Y5, (R12)
	VMOVUPS (R9)(AX*1), Y6
	VFMADD231PS Y3, Y6, Y7
	ADDQ SI, AX
	VMULPS (R8)(AX*1), Y4, Y5
	VMOVUPS Y5, (R12)(R13*1)
	VMOVUPS (R9)(AX*1), Y6
	VFMADD231PS Y3, Y6, Y8
	SUBQ SI, AX
	ADDQ $32, AX
	ADDQ $32, R11
	ADDQ $32, R14
	ADDQ $32, R12
	SUBQ $8, BX
	JNZ  p2f32

p2reduce:
	// [A01 A23 B01 B23 | A45 A67 B45 B67] → [A B A B]
	VHADDPS Y8, Y7, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	CMPQ CX, $1
	JEQ  p2last
	VMOVSD X0, (DI)
	ADDQ $8, DI
	ADDQ DX, R12 // past the partner's sbuf row
	LEAQ (R8)(R10*2), R8
	LEAQ (R9)(R10*2), R9
	SUBQ $2, CX
	JNZ  p2pair
	JMP  p2pref

p2last:
	VMOVSS X0, (DI)
	ADDQ R10, R8
	ADDQ R10, R9

p2pref:
	PREP_RETURN(p2prefl, p2done)

// WIDE_* load 16 scales (or biases) of a kind as f32 into dst; WIDEZ_*
// the lanes of K1 only, zeroing the rest.
#define WIDE_BF16(src, dst) \
	VPMOVZXWD src, dst \
	VPSLLD $16, dst, dst
#define WIDEZ_BF16(src, dst) \
	VPMOVZXWD.Z src, K1, dst \
	VPSLLD $16, dst, dst
#define WIDE_F16(src, dst) VCVTPH2PS src, dst
#define WIDEZ_F16(src, dst) VCVTPH2PS.Z src, K1, dst
#define WIDE_F32(src, dst) VMOVUPS src, dst
#define WIDEZ_F32(src, dst) VMOVUPS.Z src, K1, dst

// P16ROWS is prep16VNNI's loop over CX rows for one scale kind, widened by
// WIDE and WIDEZ: scale·step into sbuf (R12, DX bytes per row), and the
// bias partials Σ bias·xsum as 16 lanes into bpart (DI). idx is the
// scale's size in bytes, stride the scales' (and biases') bytes per row.
#define P16ROWS(row, step, last, WIDE, WIDEZ, idx, stride) \
row: \
	VPXORD Z7, Z7, Z7 \
	XORQ SI, SI \
	MOVQ BX, R13 \
step: \
	DECQ R13 \
	JZ   last \
	WIDE((R8)(SI*idx), Z5) \
	VMULPS (R14)(SI*4), Z5, Z5 \
	VMOVUPS Z5, (R12)(SI*4) \
	WIDE((R9)(SI*idx), Z6) \
	VFMADD231PS (R11)(SI*4), Z6, Z7 \
	ADDQ $16, SI \
	JMP  step \
last: \
	WIDEZ((R8)(SI*idx), Z5) \
	VMULPS.Z (R14)(SI*4), Z5, K1, Z5 \
	VMOVUPS Z5, K1, (R12)(SI*4) \
	WIDEZ((R9)(SI*idx), Z6) \
	VFMADD231PS (R11)(SI*4), Z6, K1, Z7 \
	VMOVUPS Z7, (DI) \
	ADDQ $64, DI \
	ADDQ stride, R8 \
	ADDQ stride, R9 \
	ADDQ DX, R12 \
	DECQ CX \
	JNZ  row

// func prep16VNNI(sbuf *float32, bpart *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)
//
// The scale pass of the zmm 4-bit kernels, 16 groups per step with a
// masked last step: widens each row's scales to f32 times step[j] into
// sbuf (groups floats per row) and stores the row's bias term as 16
// partial sums, lane l = Σ_{j ≡ l mod 16} bias_j·xsum_j, into bpart (16
// floats per row). The kernels start the row's accumulator from those
// partials, so the pass needs no horizontal sum and the kernel no extra
// add: for rows of 16 groups (1024 columns at group 64) it costs a third
// of prep2AVX2's instructions. kind: 0 bf16, 1 f16, 2 f32.
TEXT ·prep16VNNI(SB), NOSPLIT, $0-72
	MOVQ sbuf+0(FP), R12
	MOVQ bpart+8(FP), DI
	MOVQ scales+16(FP), R8
	MOVQ biases+24(FP), R9
	MOVQ xsum+32(FP), R11
	MOVQ step+64(FP), R14
	MOVQ groups+48(FP), BX
	// K1: the lanes of a row's last step (groups mod 16, or all 16).
	MOVQ BX, CX
	ANDQ $15, CX
	MOVL $0xFFFF, DX
	JZ   p16mask
	MOVL $1, DX
	SHLL CX, DX
	DECL DX
p16mask:
	KMOVW DX, K1
	MOVQ BX, DX
	SHLQ $2, DX // sbuf bytes per row
	MOVQ BX, R10
	SHLQ $1, R10 // scale bytes per row (16-bit kinds)
	ADDQ $15, BX
	SHRQ $4, BX // steps per row
	MOVQ rows+40(FP), CX
	CMPQ kind+56(FP), $1
	JEQ  p16f16
	JGT  p16f32

	P16ROWS(p16bf16, p16bf16step, p16bf16last, WIDE_BF16, WIDEZ_BF16, 2, R10)
	JMP p16pref
p16f16:
	P16ROWS(p16f16row, p16f16step, p16f16last, WIDE_F16, WIDEZ_F16, 2, R10)
	JMP p16pref
p16f32:
	P16ROWS(p16f32row, p16f32step, p16f32last, WIDE_F32, WIDEZ_F32, 4, DX) // 4 bytes per scale, as in sbuf

p16pref:
	PREP_RETURN(p16prefl, p16prefdone)
