package cpu

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// benchGraph compiles b's graph once and times Run.
func benchGraph(bm *testing.B, b *gb) {
	bm.Helper()
	if err := graph.Verify(b.g); err != nil {
		bm.Fatal(err)
	}
	p, err := Compile(b.g, Options{})
	if err != nil {
		bm.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := p.Run(ctx, b.inputs); err != nil {
		bm.Fatal(err)
	}
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		if _, err := p.Run(ctx, b.inputs); err != nil {
			bm.Fatal(err)
		}
	}
}

// Decode-sized (one token) and prefill-sized (128 tokens) activations of
// a Qwen3-0.6B layer: hidden 1024, 16/8 heads of 128, MLP 3072.
var benchSizes = []struct {
	name string
	seq  int
}{{"decode", 1}, {"prefill128", 128}}

func BenchmarkRMSNorm(b *testing.B) {
	for _, sz := range benchSizes {
		x := randF32(1, -2, 2, 1, sz.seq, 1024)
		w := randF32(2, 0.5, 1.5, 1024).Convert(graph.BF16)
		b.Run("fused/"+sz.name, func(b *testing.B) {
			f := newGB("rms")
			f.output(f.op("RMSNorm", nil, f.input("x", x), f.init("w", w)))
			benchGraph(b, f)
		})
		b.Run("primitive/"+sz.name, func(b *testing.B) {
			u := newGB("rms")
			xi := u.input("x", x)
			m := u.op("ReduceMean", attrs("axes", graph.Ints(-1), "keepdims", graph.Int(1)), u.op("Pow", nil, xi, scalarInit(u, "two", 2)))
			r := u.op("Rsqrt", nil, u.op("Add", nil, m, scalarInit(u, "eps", 1e-6)))
			u.output(u.op("Mul", nil, u.init("w", w), u.op("Mul", nil, xi, r)))
			benchGraph(b, u)
		})
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	for _, sz := range benchSizes {
		x := randF32(1, -2, 2, 1, sz.seq, 768)
		w, bias := randF32(2, 0.5, 1.5, 768), randF32(3, -1, 1, 768)
		b.Run("fused/"+sz.name, func(b *testing.B) {
			f := newGB("ln")
			f.output(f.op("LayerNorm", nil, f.input("x", x), f.init("w", w), f.init("b", bias)))
			benchGraph(b, f)
		})
		b.Run("primitive/"+sz.name, func(b *testing.B) {
			u := newGB("ln")
			xi := u.input("x", x)
			mean := attrs("axes", graph.Ints(-1), "keepdims", graph.Int(1))
			d := u.op("Sub", nil, xi, u.op("ReduceMean", mean, xi))
			v := u.op("ReduceMean", mean, u.op("Pow", nil, d, scalarInit(u, "two", 2)))
			n := u.op("Div", nil, d, u.op("Sqrt", nil, u.op("Add", nil, v, scalarInit(u, "eps", 1e-5))))
			u.output(u.op("Add", nil, u.op("Mul", nil, n, u.init("w", w)), u.init("b", bias)))
			benchGraph(b, u)
		})
	}
}

// BenchmarkRoPE rotates q and k of one layer; the primitive form computes
// the shared cos/sin once (as a decoder graph does) and rotates both.
func BenchmarkRoPE(b *testing.B) {
	const D = 128
	for _, sz := range benchSizes {
		q := randF32(1, -1, 1, 1, 16, sz.seq, D)
		k := randF32(2, -1, 1, 1, 8, sz.seq, D)
		pos := tensor.New(graph.I64, 1, sz.seq)
		for i := range pos.I64() {
			pos.I64()[i] = int64(100 + i)
		}
		inv := tensor.New(graph.F32, D/2)
		for i := range inv.F32() {
			inv.F32()[i] = float32(1 / math.Pow(1e6, float64(2*i)/D))
		}
		b.Run("fused/"+sz.name, func(b *testing.B) {
			f := newGB("rope")
			p, fi := f.input("pos", pos), f.init("inv", inv)
			a := attrs("dims", graph.Int(D))
			f.output(f.op("RoPE", a, f.input("q", q), p, fi))
			f.output(f.op("RoPE", a, f.input("k", k), p, fi))
			benchGraph(b, f)
		})
		b.Run("primitive/"+sz.name, func(b *testing.B) {
			u := newGB("rope")
			pf := u.op("Cast", attrs("to", graph.String("f32")), u.input("pos", pos))
			fr := u.op("Mul", nil, u.op("Unsqueeze", attrs("axes", graph.Ints(2)), pf), u.init("inv", inv))
			emb := u.op("Concat", attrs("axis", graph.Int(-1)), fr, fr)
			cos := u.op("Unsqueeze", attrs("axes", graph.Ints(1)), u.op("Cos", nil, emb))
			sin := u.op("Unsqueeze", attrs("axes", graph.Ints(1)), u.op("Sin", nil, emb))
			for _, x := range []string{u.input("q", q), u.input("k", k)} {
				x1 := u.op("Slice", attrs("axes", graph.Ints(-1), "starts", graph.Ints(0), "ends", graph.Ints(D/2)), x)
				x2 := u.op("Slice", attrs("axes", graph.Ints(-1), "starts", graph.Ints(D/2), "ends", graph.Ints(graph.SliceEnd)), x)
				rot := u.op("Concat", attrs("axis", graph.Int(-1)), u.op("Neg", nil, x2), x1)
				u.output(u.op("Add", nil, u.op("Mul", nil, x, cos), u.op("Mul", nil, rot, sin)))
			}
			benchGraph(b, u)
		})
	}
}

func BenchmarkSDPA(b *testing.B) {
	const Hq, Hkv, D = 16, 8, 128
	for _, sz := range []struct {
		name string
		S, T int
	}{{"decode_T512", 1, 512}, {"prefill128", 128, 128}} {
		q := randF32(1, -1, 1, 1, Hq, sz.S, D)
		k := randF32(2, -1, 1, 1, Hkv, sz.T, D)
		v := randF32(3, -1, 1, 1, Hkv, sz.T, D)
		mask := tensor.New(graph.I64, 1, sz.T)
		for i := range mask.I64() {
			mask.I64()[i] = 1
		}
		ids := tensor.New(graph.I64, 1, sz.S)
		scale := float32(1 / math.Sqrt(D))
		b.Run("fused/"+sz.name, func(b *testing.B) {
			f := newGB("sdpa")
			f.output(f.op("SDPA", attrs("scale", graph.Float(float64(scale))), f.input("q", q), f.input("k", k), f.input("v", v), f.input("m", mask)))
			benchGraph(b, f)
		})
		b.Run("primitive/"+sz.name, func(b *testing.B) {
			u := newGB("sdpa")
			am := u.op("AttentionMask", nil, u.input("m", mask), u.input("ids", ids))
			u.output(eagerAttention(u, u.input("q", q), u.input("k", k), u.input("v", v), am, Hq, Hkv, scale))
			benchGraph(b, u)
		})
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	for _, sz := range benchSizes {
		g := randF32(1, -4, 4, 1, sz.seq, 3072)
		u := randF32(2, -2, 2, 1, sz.seq, 3072)
		b.Run("fused/"+sz.name, func(b *testing.B) {
			f := newGB("swiglu")
			f.output(f.op("SwiGLU", nil, f.input("g", g), f.input("u", u)))
			benchGraph(b, f)
		})
		b.Run("primitive/"+sz.name, func(b *testing.B) {
			p := newGB("swiglu")
			p.output(p.op("Mul", nil, p.op("Silu", nil, p.input("g", g)), p.input("u", u)))
			benchGraph(b, p)
		})
	}
}

// BenchmarkMatMulWeight is x · Wᵀ with a bf16 [3072, 1024] weight (the MLP
// up projection of Qwen3-0.6B): decode is a matvec over 6 MiB of weights.
func BenchmarkMatMulWeight(b *testing.B) {
	w := randF32(1, -0.05, 0.05, 3072, 1024).Convert(graph.BF16)
	for _, m := range []int{1, 4, 32, 128} {
		x := randF32(2, -1, 1, 1, m, 1024)
		b.Run(fmt.Sprintf("bf16/M%d", m), func(b *testing.B) {
			f := newGB("mm")
			f.output(f.op("MatMul", attrs("transpose_b", graph.Int(1)), f.input("x", x), f.init("w", w)))
			b.SetBytes(int64(len(w.Bytes())))
			benchGraph(b, f)
		})
	}
}

// BenchmarkKVCacheAttention is one decode step of a Qwen3-0.6B attention
// layer with 511 cached positions: the runtime-held cache (append one
// position, attend) against the primitive form over past/present tensors
// (Concat the cache, repeat GQA heads, transpose, matmul, mask, softmax,
// matmul).
func BenchmarkKVCacheAttention(b *testing.B) {
	const Hq, Hkv, D, T = 16, 8, 128, 512
	q := randF32(1, -1, 1, 1, Hq, 1, D)
	k := randF32(2, -1, 1, 1, Hkv, 1, D)
	v := randF32(3, -1, 1, 1, Hkv, 1, D)
	past := randF32(4, -1, 1, 1, Hkv, T-1, D)
	mask := tensor.New(graph.I64, 1, T)
	for i := range mask.I64() {
		mask.I64()[i] = 1
	}
	scale := float32(1 / math.Sqrt(D))
	b.Run("fused", func(b *testing.B) { benchKVCacheStep(b, 1, Hq, Hkv, D, 1, T) })
	b.Run("primitive", func(b *testing.B) {
		u := newGB("kv")
		am := u.op("AttentionMask", nil, u.input("m", mask), u.input("ids", tensor.New(graph.I64, 1, 1)))
		kc := u.op("Concat", attrs("axis", graph.Int(2)), u.input("pk", past), u.input("k", k))
		vc := u.op("Concat", attrs("axis", graph.Int(2)), u.input("pv", past), u.input("v", v))
		u.output(eagerAttention(u, u.input("q", q), kc, vc, am, Hq, Hkv, scale))
		benchGraph(b, u)
	})
}

// BenchmarkKVCacheAttentionSteps times KVCacheAttention alone at the sizes
// a Qwen3-0.6B layer sees while generating: decode steps (S=1) over 159 and
// 511 cached positions, a short chunk (S=4, as speculative or chunked
// decoding sends) and a 128-token prefill into an empty cache. The
// layers28 cases run one step of all 28 layers, whose caches (36 MiB at
// T=160) do not fit the last-level cache, as in real decoding; the others
// time one layer, whose cache stays in L2/L3.
func BenchmarkKVCacheAttentionSteps(b *testing.B) {
	const Hq, Hkv, D = 16, 8, 128
	for _, sz := range []struct {
		name         string
		layers, S, T int // S new positions per step, T cached after it
	}{
		{"decode/T160", 1, 1, 160}, {"decode/T512", 1, 1, 512}, {"chunk4/T512", 1, 4, 512}, {"prefill/S128", 1, 128, 128},
		{"layers28/decode/T160", 28, 1, 160}, {"layers28/decode/T300", 28, 1, 300},
	} {
		b.Run(sz.name, func(b *testing.B) { benchKVCacheStep(b, sz.layers, Hq, Hkv, D, sz.S, sz.T) })
	}
}

// benchKVCacheStep fills the program's cache with T-S positions in each of
// layers KVCacheAttention nodes and times steps of S more (rolling the
// cache back to T-S after each).
func benchKVCacheStep(b *testing.B, layers, Hq, Hkv, D, S, T int) {
	f := newGB("kv")
	q, k, v := f.input("q", randF32(1, -1, 1, 1, Hq, S, D)), f.input("k", randF32(2, -1, 1, 1, Hkv, S, D)), f.input("v", randF32(3, -1, 1, 1, Hkv, S, D))
	m := f.input("m", tensor.New(graph.I64, 1, T))
	for i := range f.inputs["m"].I64() {
		f.inputs["m"].I64()[i] = 1
	}
	for l := 0; l < layers; l++ {
		f.output(f.op("KVCacheAttention", attrs("scale", graph.Float(1/math.Sqrt(float64(D))), "layer", graph.Int(int64(l))), q, k, v, m))
	}
	for i := range f.g.Inputs {
		if i < 3 {
			f.g.Inputs[i].Type.Shape[2] = graph.S("seq")
		} else {
			f.g.Inputs[i].Type.Shape[1] = graph.S("past+seq")
		}
	}
	p, err := Compile(f.g, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if past := T - S; past > 0 {
		pre := map[string]*tensor.Tensor{"q": randF32(5, -1, 1, 1, Hq, past, D), "k": randF32(6, -1, 1, 1, Hkv, past, D),
			"v": randF32(7, -1, 1, 1, Hkv, past, D), "m": tensor.New(graph.I64, 1, past)}
		for i := range pre["m"].I64() {
			pre["m"].I64()[i] = 1
		}
		if _, err := p.Run(ctx, pre); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Run(ctx, f.inputs); err != nil {
			b.Fatal(err)
		}
		for _, l := range p.cache.layers {
			l.n = T - S
		}
	}
}
