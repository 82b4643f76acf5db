//go:build !purego

#include "textflag.h"

// Attention kernels (see attn.go). Row strides are in floats; columns come
// in multiples of 8. Eight independent accumulators hide FMA latency.
//
// A KV cache head is far larger than the caches by the time a decode step
// reaches it, and the hardware prefetchers alone left these loops at a
// third of the memory bandwidth a plain streaming read gets. So each loop
// also prefetches, line by line, the rows it will reach next, as fast as
// it consumes the current ones (rows are contiguous in a cache head).
// Prefetches go to L2 (PREFETCHT1), 8 KiB ahead: into L1, 2 KiB ahead,
// the 28-layer decode benchmark ran about 20% slower (few L1 miss buffers).

// PFDIST is how far ahead of the current block of four keys the dot
// kernels prefetch.
#define PFDIST 8192

// WCHUNK is how many rows the weighted sums take at a time: they make one
// pass per column block over the chunk with the sums in registers, then
// move on, prefetching the next chunk meanwhile.
#define WCHUNK 16

// PREFETCH_AHEAD prefetches lines 64-byte lines from ptr on (clobbers
// R11, AX): what the dot kernels' steady prefetch will not reach.
#define PREFETCH_AHEAD(ptr, lines, label) \
	MOVQ ptr, R11 \
	MOVQ $lines, AX \
label: \
	PREFETCHT1 (R11) \
	ADDQ $64, R11 \
	DECQ AX \
	JNZ  label

// PREFETCH_CHUNK prefetches the first chunk of the weighted sums: min(AX,
// WCHUNK) rows of R8 bytes from DI (clobbers R11, AX). AX ≥ 1.
#define PREFETCH_CHUNK(label, sized) \
	CMPQ AX, $WCHUNK \
	JLE  sized \
	MOVQ $WCHUNK, AX \
sized: \
	IMULQ R8, AX \
	MOVQ DI, R11 \
label: \
	PREFETCHT1 (R11) \
	ADDQ $64, R11 \
	SUBQ $64, AX \
	JG   label

// func dotRowsAVX2(out, x, rows *float32, stride, n, d int)
// out[j] = x·row j for j < n (a multiple of 4).
TEXT ·dotRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), R9
	MOVQ rows+16(FP), DI
	MOVQ stride+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), CX
	PREFETCH_AHEAD(DI, PFDIST/64, dr_pro)

dr_block:
	MOVQ x+8(FP), SI
	MOVQ DI, R10
	LEAQ (DI)(R8*2), R12
	LEAQ PFDIST(DI), DX
	MOVQ d+40(FP), AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dr_loop16:
	CMPQ AX, $16
	JL   dr_tail8
	PREFETCHT1 (DX)
	PREFETCHT1 64(DX)
	PREFETCHT1 128(DX)
	PREFETCHT1 192(DX)
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R8*1), Y8, Y1
	VFMADD231PS (R12), Y8, Y2
	VFMADD231PS (R12)(R8*1), Y8, Y3
	VFMADD231PS 32(R10), Y9, Y4
	VFMADD231PS 32(R10)(R8*1), Y9, Y5
	VFMADD231PS 32(R12), Y9, Y6
	VFMADD231PS 32(R12)(R8*1), Y9, Y7
	ADDQ $64, SI
	ADDQ $64, R10
	ADDQ $64, R12
	ADDQ $256, DX
	SUBQ $16, AX
	JMP  dr_loop16

dr_tail8:
	CMPQ AX, $8
	JL   dr_reduce
	PREFETCHT1 (DX)
	PREFETCHT1 64(DX)
	VMOVUPS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS (R10)(R8*1), Y8, Y1
	VFMADD231PS (R12), Y8, Y2
	VFMADD231PS (R12)(R8*1), Y8, Y3

dr_reduce:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (R9)
	ADDQ $16, R9
	LEAQ (DI)(R8*4), DI
	SUBQ $4, CX
	JNZ  dr_block
	VZEROUPPER
	RET

// func dotRows2AVX2(out0, out1, x0, x1, rows *float32, stride, n, d int)
// out0[j] = x0·row j and out1[j] = x1·row j for j < n (a multiple of 4).
TEXT ·dotRows2AVX2(SB), NOSPLIT, $0-64
	MOVQ out0+0(FP), R9
	MOVQ out1+8(FP), BX
	MOVQ rows+32(FP), DI
	MOVQ stride+40(FP), R8
	SHLQ $2, R8
	MOVQ n+48(FP), CX
	PREFETCH_AHEAD(DI, PFDIST/64, dr2_pro)

dr2_block:
	MOVQ x0+16(FP), SI
	MOVQ x1+24(FP), DX
	MOVQ DI, R10
	LEAQ (DI)(R8*2), R12
	LEAQ PFDIST(DI), R11
	MOVQ d+56(FP), AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dr2_loop8:
	CMPQ AX, $8
	JL   dr2_reduce
	PREFETCHT1 (R11)
	PREFETCHT1 64(R11)
	VMOVUPS (SI), Y8
	VMOVUPS (DX), Y9
	VMOVUPS (R10), Y10
	VMOVUPS (R10)(R8*1), Y11
	VMOVUPS (R12), Y12
	VMOVUPS (R12)(R8*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y12, Y9, Y6
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R10
	ADDQ $32, R12
	ADDQ $128, R11
	SUBQ $8, AX
	JMP  dr2_loop8

dr2_reduce:
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVUPS X0, (R9)
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPS X5, X4, X4
	VMOVUPS X4, (BX)
	ADDQ $16, R9
	ADDQ $16, BX
	LEAQ (DI)(R8*4), DI
	SUBQ $4, CX
	JNZ  dr2_block
	VZEROUPPER
	RET

// func weightedRowSumAVX2(out, w *float32, n int, rows *float32, stride, d int)
// out[c] = Σ_j w[j]·row j[c] for n ≥ 1 rows, in chunks of WCHUNK rows:
// the sums are stored after each chunk and resumed by the next (0 + x is
// x, so the result is that of one pass). The arguments advance past each
// chunk.
TEXT ·weightedRowSumAVX2(SB), NOSPLIT, $0-48
	MOVQ stride+32(FP), R8
	SHLQ $2, R8
	MOVQ rows+24(FP), DI
	MOVQ n+16(FP), AX
	PREFETCH_CHUNK(ws_pro, ws_pro_sized)
	MOVQ $1, R13 // the first chunk starts the sums at 0, the others load them

ws_chunk:
	MOVQ n+16(FP), AX
	CMPQ AX, $WCHUNK
	JLE  ws_sized
	MOVQ $WCHUNK, AX

ws_sized:
	MOVQ out+0(FP), R9
	MOVQ rows+24(FP), DI
	MOVQ AX, R12
	IMULQ R8, R12
	ADDQ DI, R12 // the next chunk, to prefetch
	MOVQ d+40(FP), DX

ws_block64:
	CMPQ DX, $64
	JL   ws_block32
	MOVQ w+8(FP), SI
	MOVQ AX, CX
	MOVQ DI, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ R13, R13
	JNZ  ws_loop64
	VADDPS (R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	VADDPS 64(R9), Y2, Y2
	VADDPS 96(R9), Y3, Y3
	VADDPS 128(R9), Y4, Y4
	VADDPS 160(R9), Y5, Y5
	VADDPS 192(R9), Y6, Y6
	VADDPS 224(R9), Y7, Y7

ws_loop64:
	PREFETCHT1 (R12)
	PREFETCHT1 64(R12)
	PREFETCHT1 128(R12)
	PREFETCHT1 192(R12)
	VBROADCASTSS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	VFMADD231PS 64(R10), Y8, Y2
	VFMADD231PS 96(R10), Y8, Y3
	VFMADD231PS 128(R10), Y8, Y4
	VFMADD231PS 160(R10), Y8, Y5
	VFMADD231PS 192(R10), Y8, Y6
	VFMADD231PS 224(R10), Y8, Y7
	ADDQ $4, SI
	ADDQ R8, R10
	ADDQ $256, R12
	DECQ CX
	JNZ  ws_loop64
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	VMOVUPS Y4, 128(R9)
	VMOVUPS Y5, 160(R9)
	VMOVUPS Y6, 192(R9)
	VMOVUPS Y7, 224(R9)
	ADDQ $256, R9
	ADDQ $256, DI
	SUBQ $64, DX
	JMP  ws_block64

ws_block32:
	CMPQ DX, $32
	JL   ws_block8
	MOVQ w+8(FP), SI
	MOVQ AX, CX
	MOVQ DI, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ R13, R13
	JNZ  ws_loop32
	VADDPS (R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	VADDPS 64(R9), Y2, Y2
	VADDPS 96(R9), Y3, Y3

ws_loop32:
	PREFETCHT1 (R12)
	PREFETCHT1 64(R12)
	VBROADCASTSS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	VFMADD231PS 32(R10), Y8, Y1
	VFMADD231PS 64(R10), Y8, Y2
	VFMADD231PS 96(R10), Y8, Y3
	ADDQ $4, SI
	ADDQ R8, R10
	ADDQ $128, R12
	DECQ CX
	JNZ  ws_loop32
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	ADDQ $128, R9
	ADDQ $128, DI
	SUBQ $32, DX

ws_block8:
	CMPQ DX, $8
	JL   ws_next
	MOVQ w+8(FP), SI
	MOVQ AX, CX
	MOVQ DI, R10
	VXORPS Y0, Y0, Y0
	TESTQ R13, R13
	JNZ  ws_loop8
	VADDPS (R9), Y0, Y0

ws_loop8:
	PREFETCHT1 (R12)
	VBROADCASTSS (SI), Y8
	VFMADD231PS (R10), Y8, Y0
	ADDQ $4, SI
	ADDQ R8, R10
	ADDQ $32, R12
	DECQ CX
	JNZ  ws_loop8
	VMOVUPS Y0, (R9)
	ADDQ $32, R9
	ADDQ $32, DI
	SUBQ $8, DX
	JMP  ws_block8

ws_next:
	XORQ R13, R13
	MOVQ n+16(FP), CX
	SUBQ AX, CX
	JZ   ws_done
	MOVQ CX, n+16(FP)
	MOVQ w+8(FP), SI
	LEAQ (SI)(AX*4), SI
	MOVQ SI, w+8(FP)
	IMULQ R8, AX
	ADDQ AX, rows+24(FP)
	JMP  ws_chunk

ws_done:
	VZEROUPPER
	RET

// func weightedRowSum2AVX2(out0, out1, w0, w1 *float32, n int, rows *float32, stride, d int)
// out0[c] = Σ_j w0[j]·row j[c] and out1[c] = Σ_j w1[j]·row j[c] for
// n ≥ 1 rows, in chunks of WCHUNK rows like weightedRowSumAVX2.
TEXT ·weightedRowSum2AVX2(SB), NOSPLIT, $0-64
	MOVQ stride+48(FP), R8
	SHLQ $2, R8
	MOVQ rows+40(FP), DI
	MOVQ n+32(FP), AX
	PREFETCH_CHUNK(ws2_pro, ws2_pro_sized)
	MOVQ $1, R13 // the first chunk starts the sums at 0, the others load them

ws2_chunk:
	MOVQ n+32(FP), AX
	CMPQ AX, $WCHUNK
	JLE  ws2_sized
	MOVQ $WCHUNK, AX

ws2_sized:
	MOVQ out0+0(FP), R9
	MOVQ out1+8(FP), R11
	MOVQ rows+40(FP), DI
	MOVQ AX, R12
	IMULQ R8, R12
	ADDQ DI, R12 // the next chunk, to prefetch
	MOVQ d+56(FP), DX

ws2_block32:
	CMPQ DX, $32
	JL   ws2_block8
	MOVQ w0+16(FP), SI
	MOVQ w1+24(FP), BX
	MOVQ AX, CX
	MOVQ DI, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ R13, R13
	JNZ  ws2_loop32
	VADDPS (R9), Y0, Y0
	VADDPS 32(R9), Y1, Y1
	VADDPS 64(R9), Y2, Y2
	VADDPS 96(R9), Y3, Y3
	VADDPS (R11), Y4, Y4
	VADDPS 32(R11), Y5, Y5
	VADDPS 64(R11), Y6, Y6
	VADDPS 96(R11), Y7, Y7

ws2_loop32:
	PREFETCHT1 (R12)
	PREFETCHT1 64(R12)
	VBROADCASTSS (SI), Y8
	VBROADCASTSS (BX), Y9
	VMOVUPS (R10), Y10
	VMOVUPS 32(R10), Y11
	VMOVUPS 64(R10), Y12
	VMOVUPS 96(R10), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y11, Y9, Y5
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y12, Y9, Y6
	VFMADD231PS Y13, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ $4, SI
	ADDQ $4, BX
	ADDQ R8, R10
	ADDQ $128, R12
	DECQ CX
	JNZ  ws2_loop32
	VMOVUPS Y0, (R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	VMOVUPS Y4, (R11)
	VMOVUPS Y5, 32(R11)
	VMOVUPS Y6, 64(R11)
	VMOVUPS Y7, 96(R11)
	ADDQ $128, R9
	ADDQ $128, R11
	ADDQ $128, DI
	SUBQ $32, DX
	JMP  ws2_block32

ws2_block8:
	CMPQ DX, $8
	JL   ws2_next
	MOVQ w0+16(FP), SI
	MOVQ w1+24(FP), BX
	MOVQ AX, CX
	MOVQ DI, R10
	VXORPS Y0, Y0, Y0
	VXORPS Y4, Y4, Y4
	TESTQ R13, R13
	JNZ  ws2_loop8
	VADDPS (R9), Y0, Y0
	VADDPS (R11), Y4, Y4

ws2_loop8:
	PREFETCHT1 (R12)
	VBROADCASTSS (SI), Y8
	VBROADCASTSS (BX), Y9
	VMOVUPS (R10), Y10
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y4
	ADDQ $4, SI
	ADDQ $4, BX
	ADDQ R8, R10
	ADDQ $32, R12
	DECQ CX
	JNZ  ws2_loop8
	VMOVUPS Y0, (R9)
	VMOVUPS Y4, (R11)
	ADDQ $32, R9
	ADDQ $32, R11
	ADDQ $32, DI
	SUBQ $8, DX
	JMP  ws2_block8

ws2_next:
	XORQ R13, R13
	MOVQ n+32(FP), CX
	SUBQ AX, CX
	JZ   ws2_done
	MOVQ CX, n+32(FP)
	MOVQ w0+16(FP), SI
	LEAQ (SI)(AX*4), SI
	MOVQ SI, w0+16(FP)
	MOVQ w1+24(FP), SI
	LEAQ (SI)(AX*4), SI
	MOVQ SI, w1+24(FP)
	IMULQ R8, AX
	ADDQ AX, rows+40(FP)
	JMP  ws2_chunk

ws2_done:
	VZEROUPPER
	RET

// func scaleMaxAVX2(x, bias *float32, n int, scale float32) float32
// x[i] = x[i]·scale (+ bias[i] unless bias is nil), returning the maximum,
// or NaN if a result is NaN; n is a multiple of 8 and at least 8.
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-36
	MOVQ x+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y8
	MOVL $0xff800000, AX // −Inf
	MOVL AX, X0
	VBROADCASTSS X0, Y0
	VXORPS Y1, Y1, Y1 // NaN lanes seen
	TESTQ SI, SI
	JZ   sm_loop

smb_loop:
	VMULPS (DI), Y8, Y2
	VADDPS (SI), Y2, Y2
	VMOVUPS Y2, (DI)
	VMAXPS Y2, Y0, Y0
	VCMPPS $3, Y2, Y2, Y3
	VORPS Y3, Y1, Y1
	ADDQ $32, DI
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  smb_loop
	JMP  sm_reduce

sm_loop:
	VMULPS (DI), Y8, Y2
	VMOVUPS Y2, (DI)
	VMAXPS Y2, Y0, Y0
	VCMPPS $3, Y2, Y2, Y3
	VORPS Y3, Y1, Y1
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  sm_loop

sm_reduce:
	VMOVMSKPS Y1, AX
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	TESTL AX, AX
	JNZ  sm_nan
	MOVSS X0, ret+32(FP)
	RET

sm_nan:
	MOVL $0x7fc00000, ret+32(FP)
	RET

// func subAVX2(x *float32, n int, c float32): x[i] -= c, n a multiple of 8.
TEXT ·subAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS c+16(FP), Y1

sub_loop:
	VMOVUPS (DI), Y0
	VSUBPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  sub_loop
	VZEROUPPER
	RET

// func divAVX2(x *float32, n int, c float32): x[i] /= c, n a multiple of 8.
TEXT ·divAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS c+16(FP), Y1

div_loop:
	VMOVUPS (DI), Y0
	VDIVPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  div_loop
	VZEROUPPER
	RET

// func prefetchL2(p *byte, n int)
// Asks for n bytes from p into L2, a line at a time (a hint).
TEXT ·prefetchL2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
pfl2:
	CMPQ CX, $0
	JLE  pfl2done
	PREFETCHT1 (SI)
	ADDQ $64, SI
	SUBQ $64, CX
	JMP  pfl2
pfl2done:
	RET
