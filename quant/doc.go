// Package quant implements MLX-compatible affine group-wise quantization:
// quantizing a weight exactly as MLX does, the packing of codes into
// uint32 words, dequantization, and kernels (matrix-vector, batched, and
// embedding gather) that compute straight from the packed words.
//
// # Algorithm
//
// A weight W [N, K] (a Linear's [out, in]) is split along K into groups of
// GroupSize consecutive values. For each group, in float32 (this is MLX's
// affine_quantize as implemented in mlx/backend/cpu/quantized.cpp):
//
//	scale = max((max - min) / (2^bits - 1), 1e-7)
//	edge  = min, if |min| > |max|;  else max and scale = -scale
//	q0    = rint(edge / scale)
//	if q0 != 0 { scale = edge / q0; bias = edge } else { bias = 0 }
//	q     = clamp(rint((w - bias) / scale), 0, 2^bits - 1)
//
// rint rounds half to even. scale and bias are stored in the weight's dtype
// (bf16, f16 or f32; rounded to nearest even) and an element dequantizes to
// scale·q + bias with those stored values. Quantization itself uses the
// unrounded f32 scale and bias, as MLX does.
//
// MLX's Metal and CUDA kernels differ from its CPU kernel in two corners,
// so a checkpoint converted on a GPU may differ from ours there: they round
// half away from zero (codes differ by one at exact ties, which are rare and
// harmless), and they start the group maximum at 0, so a group whose values
// are all negative gets max = 0. We follow the CPU kernel; the
// qwen3-tiny-mlx4bit fixture, made by MLX, is reproduced bit for bit.
//
// # Packing
//
// Each row's codes form one little-endian bit stream: code k occupies bits
// [bits·k, bits·k + bits) of the stream, and stream bit b is bit b%32 of
// word b/32. A row of K codes takes K·bits/32 words, and since every group
// size (32, 64, 128) is a multiple of 32 each group starts on a word
// boundary and fills GroupSize·bits/32 whole words. For 2, 4 and 8 bits a
// word holds 16, 8 or 4 whole codes; for 3, 5 and 6 bits a code may
// straddle two words. This equals MLX's layout: its kernels write 3- and
// 6-bit codes as 8 (resp. 4) codes per 3 bytes and 5-bit codes as 8 per 5
// bytes, little-endian, and the byte buffer is viewed as uint32 words
// (checked against ml-explore/mlx at commit 846d176, files
// mlx/backend/cpu/quantized.cpp, mlx/backend/common/quantized.h and the
// affine_quantize kernels in mlx/backend/metal/kernels/quantized.h and
// mlx/backend/cuda/quantized/affine_quantize.cu).
//
// In a checkpoint (mlx-lm's layout) a quantized module <m> has
// <m>.weight (U32 [N, K·bits/32]), <m>.scales and <m>.biases ([N, K/GroupSize],
// the original weight dtype), and config.json carries
// "quantization": {"group_size": G, "bits": B}.
//
// Words are read in place from memory-mapped files; every platform this
// project builds for (amd64, arm64) is little-endian.
//
// # Kernels
//
// MatVecRows (one token) and MatMulRows (a batch) compute x · Wᵀ for a
// range of output rows straight from the packed words, so a runtime can
// split a product over goroutines; Gather dequantizes embedding rows.
// Per group the product is scale·Σq·x + bias·Σx (MLX's factoring). The
// input x is first encoded for the kernel (group sums, and a layout that
// lets the vector kernels skip shifts); that encoding is cached by content,
// so calling the kernels once per row range costs one encoding per input,
// and callers may also hold a prepared Vec themselves.
//
// Kernel picks the implementation: "vnni" (AVX-512 VNNI: x as 23-bit
// fixed point per group, split into three signed bytes, multiplied with
// the codes exactly in integer arithmetic; error ≤ 2^-23 of the group's
// largest |x|, i.e. f32-accumulation level), "avx2" (AVX2/FMA in f32) or
// "generic" (portable Go, all widths). The vector kernels take 4- and
// 8-bit codes; 2, 3, 5 and 6 bits use the portable one. The vnni kernel
// for 4-bit groups of 64 and 128 runs on zmm registers, four rows at a
// time for groups of 64 (two for the rows left over), so that each x plane
// loaded serves several rows. A row's result has the same bits however
// the rows were split over calls (threads). The results of
// the kernels agree to f32 rounding (tests compare each against a
// float64 reference).
package quant
