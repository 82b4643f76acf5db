package gputest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

func attrs(kv ...any) map[string]graph.Attr {
	m := map[string]graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		switch v := kv[i+1].(type) {
		case int:
			m[k] = graph.Int(int64(v))
		case float64:
			m[k] = graph.Float(v)
		case string:
			m[k] = graph.String(v)
		case []int64:
			m[k] = graph.Ints(v...)
		}
	}
	return m
}

// steps makes a prefill of seq tokens per row (row 1 left-padded by pad)
// followed by decode single-token steps.
func steps(seed uint64, batch, seq, pad, decode int, allLogits bool) []backend.Step {
	r := rand.New(rand.NewPCG(seed, 7))
	pre := backend.Step{AllLogits: allLogits}
	if pad > 0 {
		pre.Mask = make([][]int32, batch)
	}
	for b := 0; b < batch; b++ {
		row := make([]int32, seq)
		for j := range row {
			row[j] = int32(r.IntN(vocabIn))
		}
		pre.Tokens = append(pre.Tokens, row)
		if pad > 0 {
			m := make([]int32, seq)
			for j := range m {
				m[j] = 1
				if b == 1 && j < pad {
					m[j], row[j] = 0, 0
				}
			}
			pre.Mask[b] = m
		}
	}
	out := []backend.Step{pre}
	for i := 0; i < decode; i++ {
		st := backend.Step{AllLogits: allLogits}
		for b := 0; b < batch; b++ {
			st.Tokens = append(st.Tokens, []int32{int32(r.IntN(vocabIn))})
		}
		out = append(out, st)
	}
	return out
}

// heads reshapes [B,S,H*D] to [B,H,S,D].
func (b *builder) heads(x string, h, d int64) string {
	r := b.op("Reshape", attrs("shape", []int64{0, 0, h, d}), x)
	return b.op("Transpose", attrs("perm", []int64{0, 2, 1, 3}), r)
}

// merge reshapes [B,H,S,D] back to [B,S,H*D].
func (b *builder) merge(x string) string {
	t := b.op("Transpose", attrs("perm", []int64{0, 2, 1, 3}), x)
	return b.op("Reshape", attrs("shape", []int64{0, 0, -1}), t)
}

func scalar(b *builder, v float32) string {
	n := b.weight(graph.F32, 1)
	in := b.g.Initializers[len(b.g.Initializers)-1]
	bits := math.Float32bits(v)
	in.Data = []byte{byte(bits), byte(bits >> 8), byte(bits >> 16), byte(bits >> 24)}
	return n
}

// Cases returns every check, small enough to run in seconds.
func Cases() []Case {
	var cs []Case
	add := func(name string, g *graph.Graph, batch, maxSeq int, st []backend.Step, tol float64) {
		cs = append(cs, Case{Name: name, Graph: g, Batch: batch, MaxSeq: maxSeq, Steps: st, Tol: tol})
	}
	seed := uint64(1)
	next := func() uint64 { seed++; return seed }

	// Dense products: matrix-vector (M <= 8) and tiled (M > 8), every
	// weight dtype, K with and without the 16-byte vector path.
	for _, dt := range []graph.DType{graph.F32, graph.BF16, graph.F16} {
		for _, k := range []int64{72, 256} {
			for _, seq := range []int{1, 9} {
				b := newBuilder("matmul", next())
				x := b.embed(k)
				y := b.op("MatMul", attrs("transpose_b", 1), x, b.weight(dt, 0.5, 100, k))
				add(fmt.Sprintf("matmul/%s/k%d/seq%d", dt, k, seq), b.finish(y), 2, seq, steps(next(), 2, seq, 0, 0, true), 0)
			}
		}
		b := newBuilder("matmul_kn", next())
		x := b.embed(40)
		y := b.op("MatMul", attrs("transpose_b", 0), x, b.weight(dt, 0.5, 40, 70))
		add(fmt.Sprintf("matmul/%s/transpose_b=0/seq1", dt), b.finish(y), 3, 1, steps(next(), 3, 1, 0, 0, true), 0)
		b = newBuilder("matmul_kn", next())
		x = b.embed(40)
		y = b.op("MatMul", attrs("transpose_b", 0), x, b.weight(dt, 0.5, 40, 70))
		add(fmt.Sprintf("matmul/%s/transpose_b=0/seq11", dt), b.finish(y), 2, 11, steps(next(), 2, 11, 0, 0, true), 0)
	}
	// LM head on a tied bf16 embedding, last positions only (strided rows).
	{
		b := newBuilder("lm_head", next())
		x := b.embed(64)
		e := b.weight(graph.BF16, 0.5, vocabIn, 64)
		n := b.op("RMSNorm", attrs("eps", 1e-6), x, b.weight(graph.BF16, 1, 64))
		y := b.op("MatMul", attrs("transpose_b", 1), n, e)
		add("lm_head/last_positions", b.finish(y), 2, 12, steps(next(), 2, 12, 3, 0, false), 0)
	}
	// Affine-quantized products, every bit width.
	for _, bits := range []int64{2, 3, 4, 5, 6, 8} {
		groups := []int64{64}
		sdts := []graph.DType{graph.BF16}
		if bits == 4 {
			groups = []int64{32, 64, 128}
			sdts = []graph.DType{graph.BF16, graph.F16, graph.F32}
		}
		for _, g := range groups {
			for _, sdt := range sdts {
				for _, seq := range []int{1, 10} {
					const k, n = 256, 48
					b := newBuilder("qmatmul", next())
					x := b.embed(k)
					w := b.weight(graph.U32, 0, n, k*bits/32)
					sc := b.uniform(sdt, 0.01, 0.05, n, k/g)
					bi := b.uniform(sdt, -0.1, 0.1, n, k/g)
					y := b.op("QuantizedMatMul", attrs("bits", int(bits), "group_size", int(g)), x, w, sc, bi)
					add(fmt.Sprintf("qmatmul/b%d/g%d/%s/seq%d", bits, g, sdt, seq), b.finish(y), 2, seq, steps(next(), 2, seq, 0, 0, true), 0)
				}
			}
		}
	}
	// Quantized and bf16 embeddings.
	{
		b := newBuilder("qgather", next())
		w := b.weight(graph.U32, 0, vocabIn, 128*4/32)
		sc := b.uniform(graph.BF16, 0.01, 0.05, vocabIn, 2)
		bi := b.uniform(graph.BF16, -0.1, 0.1, vocabIn, 2)
		e := b.op("QuantizedGather", attrs("bits", 4, "group_size", 64), w, sc, bi, graph.InputIDs)
		y := b.op("Cast", attrs("to", "f32"), e)
		add("qgather/b4/bf16", b.finish(y), 2, 5, steps(next(), 2, 5, 0, 0, true), 0)
		b = newBuilder("gather", next())
		e = b.op("Gather", nil, b.weight(graph.BF16, 1, vocabIn, 33), graph.InputIDs)
		y = b.op("Cast", attrs("to", "f32"), e)
		add("gather/bf16", b.finish(y), 2, 5, steps(next(), 2, 5, 0, 0, true), 0)
	}
	// Norms.
	for _, cols := range []int64{32, 96, 1030} {
		b := newBuilder("rmsnorm", next())
		y := b.op("RMSNorm", attrs("eps", 1e-6), b.embed(cols), b.weight(graph.BF16, 1, cols))
		add(fmt.Sprintf("rmsnorm/%d", cols), b.finish(y), 2, 4, steps(next(), 2, 4, 0, 0, true), 0)
		b = newBuilder("layernorm", next())
		y = b.op("LayerNorm", attrs("eps", 1e-5), b.embed(cols), b.weight(graph.F32, 1, cols), b.weight(graph.F16, 1, cols))
		add(fmt.Sprintf("layernorm/%d", cols), b.finish(y), 2, 4, steps(next(), 2, 4, 0, 0, true), 0)
	}
	// Rotary embeddings: halves and pairs, partial dims, explicit inv_freq.
	for _, tc := range []struct {
		dims, trad int
		freqs      bool
	}{{32, 0, false}, {32, 1, false}, {16, 0, false}, {32, 0, true}} {
		const h, d = 3, 32
		b := newBuilder("rope", next())
		x := b.heads(b.embed(h*d), h, d)
		in := []string{x, graph.PositionIDs}
		if tc.freqs {
			in = append(in, b.uniform(graph.F32, 0.001, 1, int64(tc.dims/2)))
		}
		r := b.op("RoPE", attrs("dims", tc.dims, "base", 10000.0, "traditional", tc.trad, "scale", 1.0), in...)
		add(fmt.Sprintf("rope/dims%d/traditional%d/inv_freq=%v", tc.dims, tc.trad, tc.freqs), b.finish(b.merge(r)), 2, 6, steps(next(), 2, 6, 2, 0, true), 0)
	}
	// KV-cache attention: prefill then decode, GQA, left padding, splits.
	for _, tc := range []struct {
		hq, hkv, d, seq, decode, maxSeq int
	}{{6, 2, 16, 7, 6, 16}, {4, 4, 128, 5, 3, 200}, {8, 2, 64, 70, 3, 160}, {2, 1, 32, 1, 4, 8}} {
		b := newBuilder("kvattn", next())
		q := b.heads(b.embed(int64(tc.hq*tc.d)), int64(tc.hq), int64(tc.d))
		k := b.heads(b.embed(int64(tc.hkv*tc.d)), int64(tc.hkv), int64(tc.d))
		v := b.heads(b.embed(int64(tc.hkv*tc.d)), int64(tc.hkv), int64(tc.d))
		o := b.op("KVCacheAttention", attrs("scale", 1/math.Sqrt(float64(tc.d)), "layer", 0), q, k, v, graph.AttentionMask)
		pad := 0
		if tc.seq > 3 {
			pad = 3
		}
		add(fmt.Sprintf("kvattn/hq%d/hkv%d/d%d/prefill%d+%d", tc.hq, tc.hkv, tc.d, tc.seq, tc.decode), b.finish(b.merge(o)), 2, tc.maxSeq,
			steps(next(), 2, tc.seq, pad, tc.decode, tc.seq > 1), 2e-4)
	}
	// Stateless SDPA, causal and unmasked.
	for _, mask := range []string{"causal", "none"} {
		b := newBuilder("sdpa", next())
		q := b.heads(b.embed(4*32), 4, 32)
		k := b.heads(b.embed(2*32), 2, 32)
		v := b.heads(b.embed(2*32), 2, 32)
		o := b.op("SDPA", attrs("scale", 0.2, "mask", mask), q, k, v, graph.AttentionMask)
		add("sdpa/"+mask, b.finish(b.merge(o)), 2, 9, steps(next(), 2, 9, 4, 0, true), 2e-4)
	}
	// Elementwise ops, broadcasting, reductions, softmax.
	{
		b := newBuilder("elementwise", next())
		a := b.embed(40)
		one, half := scalar(b, 1), scalar(b, 0.5)
		y1 := b.op("Mul", nil, b.op("Silu", nil, a), b.op("Cos", nil, a))
		y2 := b.op("Div", nil, b.op("Sin", nil, a), b.op("Add", nil, b.op("Exp", nil, a), one))
		y3 := b.op("Max", nil, b.op("Gelu", nil, a), b.op("Min", nil, b.op("Gelu", attrs("approximate", "tanh"), a), b.op("Sigmoid", nil, a)))
		y4 := b.op("Pow", nil, b.op("Add", nil, b.op("Abs", nil, a), one), half)
		y5 := b.op("Sub", nil, b.op("Erf", nil, a), b.op("Log", nil, b.op("Add", nil, b.op("Abs", nil, a), one)))
		y6 := b.op("Mul", nil, b.op("Tanh", nil, a), b.op("Rsqrt", nil, b.op("Add", nil, b.op("Sqrt", nil, b.op("Abs", nil, a)), one)))
		s := b.op("Add", nil, b.op("Add", nil, b.op("Add", nil, y1, y2), b.op("Add", nil, y3, y4)), b.op("Add", nil, y5, b.op("Neg", nil, y6)))
		m := b.op("ReduceMean", attrs("axes", []int64{-1}, "keepdims", 1), s)
		c := b.op("Sub", nil, s, m)
		mx := b.op("ReduceMax", attrs("axes", []int64{-1}, "keepdims", 1), c)
		sm := b.op("Softmax", attrs("axis", -1), b.op("Sub", nil, c, mx))
		sum := b.op("ReduceSum", attrs("axes", []int64{-1}, "keepdims", 1), c)
		y := b.op("Add", nil, b.op("Mul", nil, sm, b.weight(graph.BF16, 1, 40)), b.op("Mul", nil, sum, b.op("SwiGLU", nil, a, c)))
		// libm differences (powf, erff, expf vs Go's math) of an ulp or two
		// are amplified by the sums: measured 8.5e-5 on the H100.
		add("elementwise", b.finish(y), 2, 3, steps(next(), 2, 3, 0, 0, true), 3e-4)
	}
	// MLP with fused epilogues: bias, residual.
	{
		b := newBuilder("mlp", next())
		x := b.embed(64)
		gt := b.op("MatMul", attrs("transpose_b", 1), x, b.weight(graph.BF16, 0.3, 96, 64))
		up := b.op("Add", nil, b.op("MatMul", attrs("transpose_b", 1), x, b.weight(graph.BF16, 0.3, 96, 64)), b.weight(graph.BF16, 0.3, 96))
		h := b.op("SwiGLU", nil, gt, up)
		dn := b.op("MatMul", attrs("transpose_b", 1), h, b.weight(graph.BF16, 0.3, 64, 96))
		y := b.op("Add", nil, x, b.op("Add", nil, dn, b.weight(graph.F32, 0.3, 64)))
		for _, seq := range []int{1, 12} {
			add(fmt.Sprintf("mlp/seq%d", seq), b.finish(y), 2, seq, steps(next(), 2, seq, 0, 0, true), 0)
			b = newBuilder("mlp", seed)
			x = b.embed(64)
			gt = b.op("MatMul", attrs("transpose_b", 1), x, b.weight(graph.BF16, 0.3, 96, 64))
			up = b.op("Add", nil, b.op("MatMul", attrs("transpose_b", 1), x, b.weight(graph.BF16, 0.3, 96, 64)), b.weight(graph.BF16, 0.3, 96))
			h = b.op("SwiGLU", nil, gt, up)
			dn = b.op("MatMul", attrs("transpose_b", 1), h, b.weight(graph.BF16, 0.3, 64, 96))
			y = b.op("Add", nil, x, b.op("Add", nil, dn, b.weight(graph.F32, 0.3, 64)))
		}
	}
	decoderCases(add, next)
	// Data movement: concat, slice, transpose, casts.
	{
		b := newBuilder("movement", next())
		a, c := b.embed(24), b.embed(16)
		cat := b.op("Concat", attrs("axis", -1), a, c)
		sl := b.op("Slice", attrs("axes", []int64{-1}, "starts", []int64{3}, "ends", []int64{-2}, "steps", []int64{2}), cat)
		t := b.op("Transpose", attrs("perm", []int64{1, 0, 2}), sl)
		t = b.op("Transpose", attrs("perm", []int64{1, 0, 2}), b.op("Neg", nil, t))
		bf := b.op("Cast", attrs("to", "f32"), b.op("Cast", attrs("to", "bf16"), t))
		add("movement", b.finish(bf), 3, 5, steps(next(), 3, 5, 0, 0, true), 0)
	}
	return cs
}
