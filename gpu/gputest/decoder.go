package gputest

import (
	"fmt"
	"math"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// layerOpts shape a small decoder (decoderGraph): the forms a Qwen3, Qwen2
// or Llama checkpoint takes after the default passes, which the launch
// plan's fusions (gpu/fuse.go) match.
type layerOpts struct {
	hidden, hq, hkv, d, ffn, layers int
	qkNorm, qkvBias                 bool
	wdt                             graph.DType // dense weights
	bits, group                     int         // > 0: affine-quantized products
	traditional, ropeDims           int
}

// weightProduct is x·Wᵀ with W [n, k]: dense (MatMul, transpose_b) or
// QuantizedMatMul with bf16 scales and biases.
func (b *builder) weightProduct(o layerOpts, x string, n, k int) string {
	if o.bits == 0 {
		return b.op("MatMul", attrs("transpose_b", 1), x, b.weight(o.wdt, 1/math.Sqrt(float64(k)), int64(n), int64(k)))
	}
	w := b.weight(graph.U32, 0, int64(n), int64(k*o.bits/32))
	groups := int64(k / o.group)
	sc := b.uniform(graph.BF16, 0.2/float64(int(1)<<o.bits)/math.Sqrt(float64(k)), 2/float64(int(1)<<o.bits)/math.Sqrt(float64(k)), int64(n), groups)
	bi := b.uniform(graph.BF16, -0.5/math.Sqrt(float64(k)), 0.5/math.Sqrt(float64(k)), int64(n), groups)
	return b.op("QuantizedMatMul", attrs("bits", o.bits, "group_size", o.group), x, w, sc, bi)
}

func decoderGraph(name string, seed uint64, o layerOpts) *graph.Graph {
	b := newBuilder(name, seed)
	x := b.embed(int64(o.hidden))
	norm := func(v string, cols int) string {
		return b.op("RMSNorm", attrs("eps", 1e-6), v, b.uniform(graph.BF16, 0.5, 1.5, int64(cols)))
	}
	proj := func(v string, n, k int, bias bool) string {
		y := b.weightProduct(o, v, n, k)
		if bias {
			y = b.op("Add", nil, y, b.weight(graph.BF16, 0.3, int64(n)))
		}
		return y
	}
	dims := o.ropeDims
	if dims == 0 {
		dims = o.d
	}
	for l := 0; l < o.layers; l++ {
		h := norm(x, o.hidden)
		q := b.op("Reshape", attrs("shape", []int64{0, 0, int64(o.hq), int64(o.d)}), proj(h, o.hq*o.d, o.hidden, o.qkvBias))
		k := b.op("Reshape", attrs("shape", []int64{0, 0, int64(o.hkv), int64(o.d)}), proj(h, o.hkv*o.d, o.hidden, o.qkvBias))
		v := b.op("Reshape", attrs("shape", []int64{0, 0, int64(o.hkv), int64(o.d)}), proj(h, o.hkv*o.d, o.hidden, o.qkvBias))
		v = b.op("Transpose", attrs("perm", []int64{0, 2, 1, 3}), v)
		if o.qkNorm {
			k = norm(k, o.d)
			q = norm(q, o.d)
		}
		k = b.op("Transpose", attrs("perm", []int64{0, 2, 1, 3}), k)
		q = b.op("Transpose", attrs("perm", []int64{0, 2, 1, 3}), q)
		rope := attrs("dims", dims, "base", 10000.0, "traditional", o.traditional, "scale", 1.0)
		q = b.op("RoPE", rope, q, graph.PositionIDs)
		k = b.op("RoPE", rope, k, graph.PositionIDs)
		a := b.op("KVCacheAttention", attrs("scale", 1/math.Sqrt(float64(o.d)), "layer", l), q, k, v, graph.AttentionMask)
		x = b.op("Add", nil, x, proj(b.merge(a), o.hidden, o.hq*o.d, false))
		h2 := norm(x, o.hidden)
		s := b.op("SwiGLU", nil, proj(h2, o.ffn, o.hidden, false), proj(h2, o.ffn, o.hidden, o.qkvBias))
		x = b.op("Add", nil, x, proj(s, o.hidden, o.ffn, false))
	}
	y := b.weightProduct(o, norm(x, o.hidden), vocabIn, o.hidden)
	return b.finish(y)
}

// decoderCases are whole small decoders, prefill (left-padded) then decode
// steps, so every fused dispatch is checked in the position it has in a
// real model.
func decoderCases(add func(string, *graph.Graph, int, int, []backend.Step, float64), next func() uint64) {
	for _, tc := range []struct {
		name                      string
		o                         layerOpts
		batch, seq, decode, maxSq int
	}{
		{"qwen3", layerOpts{hidden: 64, hq: 4, hkv: 2, d: 32, ffn: 96, layers: 2, qkNorm: true, wdt: graph.BF16}, 2, 6, 5, 40},
		{"qwen2-bias", layerOpts{hidden: 64, hq: 4, hkv: 1, d: 16, ffn: 80, layers: 2, qkvBias: true, wdt: graph.F16}, 2, 5, 4, 24},
		{"llama-traditional-partial", layerOpts{hidden: 96, hq: 6, hkv: 6, d: 16, ffn: 64, layers: 1, wdt: graph.F32, traditional: 1, ropeDims: 8}, 2, 4, 3, 20},
		{"qwen3-splitk", layerOpts{hidden: 1024, hq: 2, hkv: 1, d: 64, ffn: 1024, layers: 1, qkNorm: true, wdt: graph.BF16}, 1, 3, 3, 300},
		{"qwen3-4bit", layerOpts{hidden: 128, hq: 4, hkv: 2, d: 32, ffn: 192, layers: 2, qkNorm: true, bits: 4, group: 64}, 2, 6, 4, 40},
		{"qwen3-4bit-splitk", layerOpts{hidden: 2048, hq: 2, hkv: 2, d: 64, ffn: 256, layers: 1, qkNorm: true, bits: 4, group: 64}, 1, 2, 2, 16},
		{"qwen3-3bit", layerOpts{hidden: 64, hq: 2, hkv: 1, d: 32, ffn: 96, layers: 1, qkNorm: true, bits: 3, group: 32}, 1, 4, 3, 12},
		{"qwen3-8bit", layerOpts{hidden: 128, hq: 4, hkv: 2, d: 32, ffn: 128, layers: 1, bits: 8, group: 128}, 1, 3, 2, 8},
		{"batch8", layerOpts{hidden: 64, hq: 8, hkv: 1, d: 16, ffn: 64, layers: 1, qkNorm: true, wdt: graph.BF16}, 8, 3, 3, 12},
		{"odd-k", layerOpts{hidden: 36, hq: 3, hkv: 3, d: 12, ffn: 44, layers: 1, wdt: graph.BF16}, 2, 3, 2, 8},
		// 7 rows of 1024 are more than the fused products stage: unfused.
		{"wide-batch7", layerOpts{hidden: 1024, hq: 2, hkv: 1, d: 64, ffn: 64, layers: 1, qkNorm: true, wdt: graph.BF16}, 7, 2, 2, 8},
	} {
		g := decoderGraph("decoder_"+tc.name, next(), tc.o)
		pad := 0
		if tc.batch > 1 && tc.seq > 3 {
			pad = 2
		}
		add(fmt.Sprintf("decoder/%s/prefill%d+%d", tc.name, tc.seq, tc.decode), g, tc.batch, tc.maxSq, steps(next(), tc.batch, tc.seq, pad, tc.decode, false), 2e-4)
	}
}
