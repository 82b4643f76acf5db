package cpu

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

// gb builds small test graphs value by value.
type gb struct {
	g      *graph.Graph
	n      int
	inputs map[string]*tensor.Tensor
}

func newGB(name string) *gb {
	return &gb{g: &graph.Graph{Name: name}, inputs: map[string]*tensor.Tensor{}}
}

func (b *gb) input(name string, t *tensor.Tensor) string {
	b.g.Inputs = append(b.g.Inputs, graph.ValueInfo{Name: name, Type: t.Type()})
	b.inputs[name] = t
	return name
}

func (b *gb) init(name string, t *tensor.Tensor) string {
	b.g.Initializers = append(b.g.Initializers, &graph.Initializer{Name: name, Type: t.Type(), Data: append([]byte{}, t.Bytes()...)})
	return name
}

func (b *gb) op(op string, a map[string]graph.Attr, ins ...string) string {
	b.n++
	out := fmt.Sprintf("%s_%d", op, b.n)
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: fmt.Sprintf("n%d", b.n), Op: op, Attrs: a, Inputs: ins, Outputs: []string{out}})
	return out
}

func (b *gb) output(v string) { b.g.Outputs = append(b.g.Outputs, graph.ValueInfo{Name: v}) }

func (b *gb) run(t testing.TB) map[string]*tensor.Tensor {
	t.Helper()
	if err := graph.Verify(b.g); err != nil {
		t.Fatalf("graph %s: %v", b.g.Name, err)
	}
	return runGraph(t, b.g, b.inputs)
}

func scalarInit(b *gb, name string, v float32) string { return b.init(name, tensor.Scalar(v)) }

// compareFused runs a fused and an unfused graph and compares output "y".
func compareFused(t *testing.T, what string, fused, unfused *gb, rel float64) {
	t.Helper()
	f := fused.run(t)
	u := unfused.run(t)
	for i, o := range unfused.g.Outputs {
		name := fused.g.Outputs[i].Name
		d, err := tensor.CompareTensors(f[name], u[o.Name])
		if err != nil {
			t.Fatalf("%s %s: %v", what, name, err)
		}
		if d.Rel > rel {
			t.Fatalf("%s %s: fused vs unfused %v > %g", what, name, d, rel)
		}
	}
}

func TestRMSNormMatchesPrimitives(t *testing.T) {
	for _, shape := range [][]int{{2, 3, 64}, {1, 1, 37}, {2, 4, 5, 32}} {
		x := randF32(1, -3, 3, shape...)
		w := randF32(2, 0.5, 1.5, shape[len(shape)-1]).Convert(graph.BF16)
		f := newGB("rms")
		f.output(f.op("RMSNorm", attrs("eps", graph.Float(1e-6)), f.input("x", x), f.init("w", w)))
		u := newGB("rms-primitive")
		xi := u.input("x", x)
		p := u.op("Pow", nil, xi, scalarInit(u, "two", 2))
		m := u.op("ReduceMean", attrs("axes", graph.Ints(-1), "keepdims", graph.Int(1)), p)
		r := u.op("Rsqrt", nil, u.op("Add", nil, m, scalarInit(u, "eps", 1e-6)))
		u.output(u.op("Mul", nil, u.init("w", w), u.op("Mul", nil, xi, r)))
		// Same f32 steps in the same order: equal to the bit.
		compareFused(t, "RMSNorm", f, u, 0)

		// And against float64 math.
		D := shape[len(shape)-1]
		xv, wv := f64s(x), f64s(w)
		want := make([]float64, len(xv))
		for r := 0; r < len(xv)/D; r++ {
			var ss float64
			for _, v := range xv[r*D : (r+1)*D] {
				ss += v * v
			}
			s := 1 / math.Sqrt(ss/float64(D)+1e-6)
			for i := 0; i < D; i++ {
				want[r*D+i] = xv[r*D+i] * s * wv[i]
			}
		}
		check(t, "RMSNorm", f.run(t)[f.g.Outputs[0].Name], shape, want, 1e-6)
	}
}

func TestLayerNormMatchesPrimitives(t *testing.T) {
	x := randF32(3, -3, 3, 2, 5, 48)
	w := randF32(4, 0.5, 1.5, 48)
	bias := randF32(5, -1, 1, 48)
	f := newGB("ln")
	f.output(f.op("LayerNorm", attrs("eps", graph.Float(1e-5)), f.input("x", x), f.init("w", w), f.init("b", bias)))
	u := newGB("ln-primitive")
	xi := u.input("x", x)
	mean := attrs("axes", graph.Ints(-1), "keepdims", graph.Int(1))
	mu := u.op("ReduceMean", mean, xi)
	d := u.op("Sub", nil, xi, mu)
	v := u.op("ReduceMean", mean, u.op("Pow", nil, d, scalarInit(u, "two", 2)))
	n := u.op("Div", nil, d, u.op("Sqrt", nil, u.op("Add", nil, v, scalarInit(u, "eps", 1e-5))))
	u.output(u.op("Add", nil, u.op("Mul", nil, n, u.init("w", w)), u.init("b", bias)))
	compareFused(t, "LayerNorm", f, u, 1e-6)

	// Without bias.
	f2 := newGB("ln-nobias")
	f2.output(f2.op("LayerNorm", nil, f2.input("x", x), f2.init("w", w), ""))
	xv, wv := f64s(x), f64s(w)
	want := make([]float64, len(xv))
	for r := 0; r < 10; r++ {
		row := xv[r*48 : (r+1)*48]
		var m, s float64
		for _, v := range row {
			m += v
		}
		m /= 48
		for _, v := range row {
			s += (v - m) * (v - m)
		}
		s = 1 / math.Sqrt(s/48+1e-5)
		for i, v := range row {
			want[r*48+i] = (v - m) * s * wv[i]
		}
	}
	check(t, "LayerNorm no bias", f2.run(t)[f2.g.Outputs[0].Name], x.Shape, want, 1e-6)
}

func refRoPE(x *tensor.Tensor, pos []int64, dims int, freq []float64, traditional bool) []float64 {
	B, H, S, D := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	xv := f64s(x)
	out := append([]float64(nil), xv...)
	half := dims / 2
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for s := 0; s < S; s++ {
				o := ((b*H+h)*S + s) * D
				for k := 0; k < half; k++ {
					th := float64(pos[b*S+s]) * freq[k]
					i1, i2 := k, k+half
					if traditional {
						i1, i2 = 2*k, 2*k+1
					}
					x1, x2 := xv[o+i1], xv[o+i2]
					out[o+i1] = x1*math.Cos(th) - x2*math.Sin(th)
					out[o+i2] = x2*math.Cos(th) + x1*math.Sin(th)
				}
			}
		}
	}
	return out
}

func TestRoPE(t *testing.T) {
	pos := []int64{0, 1, 2, 7, 1, 1, 0, 1}
	positions := tensor.FromI64([]int{2, 4}, pos)
	for _, tt := range []struct {
		D, dims     int
		traditional bool
		explicit    bool
	}{
		{32, 32, false, false}, {32, 32, true, false}, {16, 8, false, false}, {16, 8, true, true}, {20, 20, false, true},
	} {
		x := randF32(6, -1, 1, 2, 3, 4, tt.D)
		base := 10000.0
		freq := make([]float64, tt.dims/2)
		inv := tensor.New(graph.F32, tt.dims/2)
		for k := range freq {
			freq[k] = 1 / math.Pow(base, float64(2*k)/float64(tt.dims))
			if tt.explicit {
				freq[k] *= 0.25 // scaled frequencies, as llama3 rope passes them
			}
			inv.F32()[k] = float32(freq[k])
			freq[k] = float64(inv.F32()[k])
		}
		in := []*tensor.Tensor{x, positions}
		var consts []int
		if tt.explicit {
			in = append(in, inv)
			consts = []int{2}
		}
		a := attrs("dims", graph.Int(int64(tt.dims)), "base", graph.Float(base), "traditional", graph.Int(map[bool]int64{true: 1}[tt.traditional]))
		y := runOp(t, "RoPE", a, in, consts...)
		check(t, fmt.Sprintf("RoPE %+v", tt), y, x.Shape, refRoPE(x, pos, tt.dims, freq, tt.traditional), 1e-6)
	}
}

func TestRoPEMatchesRotateHalf(t *testing.T) {
	const B, H, S, D = 2, 3, 5, 20 // half 10: the vector kernel and its tail
	x := randF32(7, -1, 1, B, H, S, D)
	positions := tensor.FromI64([]int{B, S}, []int64{0, 1, 2, 3, 4, 1, 1, 0, 1, 2})
	inv := tensor.New(graph.F32, D/2)
	for k := range inv.F32() {
		inv.F32()[k] = 1 / float32(math.Pow(1e6, float64(float32(2*k)/float32(D))))
	}
	f := newGB("rope")
	f.output(f.op("RoPE", attrs("dims", graph.Int(D), "base", graph.Float(1e6)), f.input("x", x), f.input("pos", positions), f.init("inv", inv)))

	u := newGB("rope-primitive")
	xi, pi := u.input("x", x), u.input("pos", positions)
	pf := u.op("Cast", attrs("to", graph.String("f32")), pi)
	p3 := u.op("Unsqueeze", attrs("axes", graph.Ints(2)), pf)
	fr := u.op("Mul", nil, p3, u.init("inv", inv))
	emb := u.op("Concat", attrs("axis", graph.Int(-1)), fr, fr)
	cos := u.op("Unsqueeze", attrs("axes", graph.Ints(1)), u.op("Cos", nil, emb))
	sin := u.op("Unsqueeze", attrs("axes", graph.Ints(1)), u.op("Sin", nil, emb))
	x1 := u.op("Slice", attrs("axes", graph.Ints(-1), "starts", graph.Ints(0), "ends", graph.Ints(D/2)), xi)
	x2 := u.op("Slice", attrs("axes", graph.Ints(-1), "starts", graph.Ints(D/2), "ends", graph.Ints(graph.SliceEnd)), xi)
	rot := u.op("Concat", attrs("axis", graph.Int(-1)), u.op("Neg", nil, x2), x1)
	u.output(u.op("Add", nil, u.op("Mul", nil, xi, cos), u.op("Mul", nil, rot, sin)))
	compareFused(t, "RoPE", f, u, 0)
}

// refAttention computes attention in float64: q [B,Hq,S,D], k/v [B,Hkv,T,·].
func refAttention(q, k, v *tensor.Tensor, real []bool, causal bool, scale float64) []float64 {
	B, Hq, S, D := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	Hkv, T, Dv := k.Shape[1], k.Shape[2], v.Shape[3]
	qv, kv, vv := f64s(q), f64s(k), f64s(v)
	out := make([]float64, B*Hq*S*Dv)
	for b := 0; b < B; b++ {
		for h := 0; h < Hq; h++ {
			kh := h / (Hq / Hkv)
			for i := 0; i < S; i++ {
				l := make([]float64, T)
				m := math.Inf(-1)
				for j := 0; j < T; j++ {
					var s float64
					for d := 0; d < D; d++ {
						s += qv[((b*Hq+h)*S+i)*D+d] * kv[((b*Hkv+kh)*T+j)*D+d]
					}
					s *= scale
					if (real != nil && !real[b*T+j]) || (causal && j > T-S+i) {
						s += float64(maskValue)
					}
					l[j] = s
					m = math.Max(m, s)
				}
				var z float64
				for j := range l {
					l[j] = math.Exp(l[j] - m)
					z += l[j]
				}
				for j := range l {
					for d := 0; d < Dv; d++ {
						out[((b*Hq+h)*S+i)*Dv+d] += l[j] / z * vv[((b*Hkv+kh)*T+j)*Dv+d]
					}
				}
			}
		}
	}
	return out
}

func maskTensor(B, T int, pads []int) (*tensor.Tensor, []bool) {
	m := tensor.New(graph.I64, B, T)
	real := make([]bool, B*T)
	for b := 0; b < B; b++ {
		for j := 0; j < T; j++ {
			if j >= pads[b] {
				m.I64()[b*T+j] = 1
				real[b*T+j] = true
			}
		}
	}
	return m, real
}

func TestSDPA(t *testing.T) {
	for _, tt := range []struct {
		B, Hq, Hkv, S, T, D int
		mask                string
		pads                []int
	}{
		{1, 4, 4, 5, 5, 16, "causal", nil},
		{2, 4, 2, 6, 6, 8, "causal", []int{0, 3}},
		{2, 8, 2, 1, 9, 16, "causal", []int{0, 2}}, // decode step over a cache
		{1, 6, 1, 3, 7, 12, "none", nil},           // MQA, S < T
		{2, 4, 1, 4, 4, 8, "none", []int{1, 0}},
	} {
		q := randF32(1, -1, 1, tt.B, tt.Hq, tt.S, tt.D)
		k := randF32(2, -1, 1, tt.B, tt.Hkv, tt.T, tt.D)
		v := randF32(3, -1, 1, tt.B, tt.Hkv, tt.T, tt.D)
		scale := 1 / math.Sqrt(float64(tt.D))
		in := []*tensor.Tensor{q, k, v}
		var real []bool
		if tt.pads != nil {
			var m *tensor.Tensor
			m, real = maskTensor(tt.B, tt.T, tt.pads)
			in = append(in, m)
		}
		y := runOp(t, "SDPA", attrs("scale", graph.Float(scale), "mask", graph.String(tt.mask)), in)
		check(t, fmt.Sprintf("SDPA %+v", tt), y, q.Shape, refAttention(q, k, v, real, tt.mask == "causal", scale), 1e-5)
	}
}

// eagerAttention builds the primitive attention form of docs/graph-forms.md.
func eagerAttention(u *gb, q, k, v, mask string, hq, hkv int, scale float32) string {
	if hq != hkv {
		r := attrs("repeats", graph.Int(int64(hq/hkv)), "axis", graph.Int(1))
		k = u.op("RepeatInterleave", r, k)
		v = u.op("RepeatInterleave", r, v)
	}
	s := u.op("MatMul", nil, q, u.op("Transpose", attrs("perm", graph.Ints(0, 1, 3, 2)), k))
	s = u.op("Mul", nil, s, scalarInit(u, fmt.Sprintf("scale%d", u.n), scale))
	s = u.op("Add", nil, s, mask)
	p := u.op("Softmax", attrs("axis", graph.Int(-1)), s)
	p = u.op("Dropout", attrs("rate", graph.Float(0.1)), p)
	return u.op("MatMul", nil, p, v)
}

func TestSDPAMatchesPrimitives(t *testing.T) {
	const B, Hq, Hkv, S, D = 2, 8, 2, 7, 16
	q := randF32(1, -2, 2, B, Hq, S, D)
	k := randF32(2, -2, 2, B, Hkv, S, D)
	v := randF32(3, -2, 2, B, Hkv, S, D)
	m, _ := maskTensor(B, S, []int{0, 3})
	ids := tensor.New(graph.I64, B, S)
	scale := float32(1 / math.Sqrt(D))

	f := newGB("sdpa")
	f.output(f.op("SDPA", attrs("scale", graph.Float(float64(scale))), f.input("q", q), f.input("k", k), f.input("v", v), f.input("mask", m)))
	u := newGB("sdpa-primitive")
	am := u.op("AttentionMask", nil, u.input("mask", m), u.input("ids", ids))
	u.output(eagerAttention(u, u.input("q", q), u.input("k", k), u.input("v", v), am, Hq, Hkv, scale))
	// Rows that are padding attend to nothing real; HF leaves them
	// arbitrary, but both forms compute the same uniform average.
	compareFused(t, "SDPA", f, u, 1e-5)
}

func TestAttentionMask(t *testing.T) {
	m, _ := maskTensor(2, 6, []int{0, 2})
	q := tensor.New(graph.I64, 2, 3)
	for _, w := range []int64{0, 2} {
		y := runOp(t, "AttentionMask", attrs("sliding_window", graph.Int(w)), []*tensor.Tensor{m, q})
		want := make([]float64, 2*3*6)
		for b := 0; b < 2; b++ {
			for i := 0; i < 3; i++ {
				for j := 0; j < 6; j++ {
					p := 3 + i
					ok := !(b == 1 && j < 2) && j <= p && (w == 0 || j > p-int(w))
					if !ok {
						want[(b*3+i)*6+j] = float64(maskValue)
					}
				}
			}
		}
		check(t, "AttentionMask", y, []int{2, 1, 3, 6}, want, 0)
	}
}

func TestKVCacheAttentionEqualsFullSDPA(t *testing.T) {
	const B, Hq, Hkv, D = 2, 4, 2, 8
	steps := []int{5, 1, 1, 2}
	T := 0
	for _, s := range steps {
		T += s
	}
	q := randF32(1, -1, 1, B, Hq, T, D)
	k := randF32(2, -1, 1, B, Hkv, T, D)
	v := randF32(3, -1, 1, B, Hkv, T, D)
	mask, real := maskTensor(B, T, []int{0, 2})
	scale := 1 / math.Sqrt(D)
	want := refAttention(q, k, v, real, true, scale)

	qs := tensor.New(graph.F32, B, Hq, 1, D)
	ks := tensor.New(graph.F32, B, Hkv, 1, D)
	g := opGraph("KVCacheAttention", attrs("scale", graph.Float(scale), "layer", graph.Int(3)), []*tensor.Tensor{qs, ks, ks, tensor.New(graph.I64, B, 1)})
	// Make S and T symbolic, as a decoder declares them.
	for i := range g.Inputs {
		s := g.Inputs[i].Type.Shape
		if i < 3 {
			s[2] = graph.S("seq")
		} else {
			s[1] = graph.S("past+seq")
		}
	}
	p, err := Compile(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pos := 0
	for _, s := range steps {
		sl := func(x *tensor.Tensor, h int) *tensor.Tensor {
			out := tensor.New(graph.F32, B, h, s, D)
			for bh := 0; bh < B*h; bh++ {
				copy(out.F32()[bh*s*D:(bh+1)*s*D], x.F32()[(bh*T+pos)*D:(bh*T+pos+s)*D])
			}
			return out
		}
		km := tensor.New(graph.I64, B, pos+s)
		for b := 0; b < B; b++ {
			copy(km.I64()[b*(pos+s):(b+1)*(pos+s)], mask.I64()[b*T:b*T+pos+s])
		}
		out, err := p.Run(context.Background(), map[string]*tensor.Tensor{"x0": sl(q, Hq), "x1": sl(k, Hkv), "x2": sl(v, Hkv), "x3": km})
		if err != nil {
			t.Fatalf("step at %d: %v", pos, err)
		}
		// Compare real query rows only: a padding query attends to no real
		// key, and its (uniform) average depends on how many keys exist.
		y := out["y"].Clone()
		var w []float64
		for bh := 0; bh < B*Hq; bh++ {
			for i := 0; i < s; i++ {
				row := want[(bh*T+pos+i)*D : (bh*T+pos+i+1)*D]
				if !real[(bh/Hq)*T+pos+i] {
					row = make([]float64, D)
					clear(y.F32()[(bh*s+i)*D : (bh*s+i+1)*D])
				}
				w = append(w, row...)
			}
		}
		check(t, fmt.Sprintf("step at %d", pos), y, []int{B, Hq, s, D}, w, 1e-5)
		pos += s
	}
	// A mask that does not cover the cache is an error, and leaves the cache as it was.
	_, err = p.Run(context.Background(), map[string]*tensor.Tensor{"x0": qs, "x1": ks, "x2": ks, "x3": tensor.New(graph.I64, B, 3)})
	if err == nil {
		t.Fatal("short running mask accepted")
	}
	if p.cache.Len() != T {
		t.Fatalf("cache length %d after a failed step, want %d", p.cache.Len(), T)
	}
	p.ResetCache()
	if p.cache.Len() != 0 {
		t.Fatal("ResetCache kept positions")
	}
}

func TestSwiGLU(t *testing.T) {
	g := randF32(1, -4, 4, 3, 50)
	u := randF32(2, -2, 2, 3, 50)
	f := newGB("swiglu")
	f.output(f.op("SwiGLU", nil, f.input("g", g), f.input("u", u)))
	p := newGB("swiglu-primitive")
	p.output(p.op("Mul", nil, p.op("Silu", nil, p.input("g", g)), p.input("u", u)))
	compareFused(t, "SwiGLU", f, p, 0)
}

func TestQuantizedOps(t *testing.T) {
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{32, 64} {
			const N, K = 24, 128
			w := randF32(uint64(bits), -1, 1, N, K)
			m, err := quant.Quantize(w.F32(), N, K, quant.Params{Bits: bits, GroupSize: gs}, graph.BF16)
			if err != nil {
				t.Fatal(err)
			}
			words, _ := tensor.FromBytes(graph.U32, []int{N, K * bits / 32}, m.WordBytes())
			scales, _ := tensor.FromBytes(graph.BF16, []int{N, K / gs}, m.Scales)
			biases, _ := tensor.FromBytes(graph.BF16, []int{N, K / gs}, m.Biases)
			deq := tensor.FromF32([]int{N, K}, m.Dequantize())
			a := attrs("bits", graph.Int(int64(bits)), "group_size", graph.Int(int64(gs)))
			for _, M := range []int{1, 5} {
				x := randF32(9, -1, 1, M, K)
				y := runOp(t, "QuantizedMatMul", a, []*tensor.Tensor{x, words, scales, biases}, 1, 2, 3)
				shape, want := refMatMul(x, deq, true)
				check(t, fmt.Sprintf("QuantizedMatMul bits=%d g=%d M=%d", bits, gs, M), y, shape, want, 1e-5)
			}
			ids := tensor.FromI64([]int{3}, []int64{0, 23, 7})
			y := runOp(t, "QuantizedGather", a, []*tensor.Tensor{words, scales, biases, ids}, 0, 1, 2)
			var want []float64
			for _, i := range []int{0, 23, 7} {
				for _, v := range deq.F32()[i*K : (i+1)*K] {
					want = append(want, float64(tensor.BF16ToF32(tensor.F32ToBF16(v))))
				}
			}
			check(t, "QuantizedGather", y, []int{3, K}, want, 0)
			// dtype="f32" keeps the dequantized values unrounded.
			a["dtype"] = graph.String("f32")
			y = runOp(t, "QuantizedGather", a, []*tensor.Tensor{words, scales, biases, ids}, 0, 1, 2)
			want = want[:0]
			for _, i := range []int{0, 23, 7} {
				for _, v := range deq.F32()[i*K : (i+1)*K] {
					want = append(want, float64(v))
				}
			}
			if y.DType != graph.F32 {
				t.Fatalf("dtype=f32 gave %s", y.DType)
			}
			check(t, "QuantizedGather f32", y, []int{3, K}, want, 0)
		}
	}
}

func TestIf(t *testing.T) {
	x := randF32(1, -1, 1, 2, 3)
	y := randF32(2, -1, 1, 2, 3)
	for _, cond := range []bool{true, false} {
		b := newGB("if")
		xi, yi := b.input("x", x), b.input("y", y)
		c := b.input("c", tensor.FromBool([]int{1}, []bool{cond}))
		sum := b.op("Add", nil, xi, yi)
		then := &graph.Graph{Name: "then", Nodes: []*graph.Node{{Name: "t1", Op: "Mul", Inputs: []string{sum, yi}, Outputs: []string{"t_out"}}},
			Outputs: []graph.ValueInfo{{Name: "t_out"}}}
		els := &graph.Graph{Name: "else", Nodes: []*graph.Node{{Name: "e1", Op: "Identity", Inputs: []string{xi}, Outputs: []string{"e_out"}}},
			Outputs: []graph.ValueInfo{{Name: "e_out"}}}
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "if", Op: "If", Inputs: []string{c}, Outputs: []string{"r"},
			Subgraphs: map[string]*graph.Graph{"then_branch": then, "else_branch": els}})
		b.output(b.op("Neg", nil, "r"))
		out := b.run(t)[b.g.Outputs[0].Name]
		xv, yv := f64s(x), f64s(y)
		want := make([]float64, 6)
		for i := range want {
			if cond {
				want[i] = -((xv[i] + yv[i]) * yv[i])
			} else {
				want[i] = -xv[i]
			}
		}
		check(t, fmt.Sprintf("If(%v)", cond), out, []int{2, 3}, want, 1e-7)
	}
}

// Two RoPE nodes with the same positions but different frequencies (one
// f32, one bf16) in one run must not share cos/sin tables.
func TestRoPETablesPerFrequency(t *testing.T) {
	x := randF32(1, -1, 1, 1, 2, 3, 8)
	pos := tensor.FromI64([]int{1, 3}, []int64{3, 4, 5})
	f1 := tensor.FromF32([]int{4}, []float32{1, 0.5, 0.25, 0.125})
	f2 := tensor.FromF32([]int{4}, []float32{0.9, 0.3, 0.2, 0.1}).Convert(graph.BF16)
	b := newGB("two-ropes")
	xi, pi := b.input("x", x), b.input("pos", pos)
	a := attrs("dims", graph.Int(8))
	b.output(b.op("RoPE", a, xi, pi, b.init("f1", f1)))
	b.output(b.op("RoPE", a, xi, pi, b.init("f2", f2)))
	b.output(b.op("RoPE", a, xi, pi, b.init("f1b", f1.Convert(graph.BF16))))
	out := b.run(t)
	for i, f := range []*tensor.Tensor{f1, f2, f1.Convert(graph.BF16)} {
		check(t, fmt.Sprintf("rope %d", i), out[b.g.Outputs[i].Name], x.Shape, refRoPE(x, pos.I64(), 8, f64s(f), false), 1e-6)
	}
}

// RoPE nodes of one shape share their default frequencies' storage, which
// keys the per-step table cache: every layer reuses the first's table.
func TestRoPEDefaultFrequenciesShared(t *testing.T) {
	c := &compiler{}
	a, b := c.ropeFrequencies(128, 1e6), c.ropeFrequencies(128, 1e6)
	if &a[0] != &b[0] {
		t.Fatal("two RoPE nodes of one shape got separate frequency tables")
	}
	if d := c.ropeFrequencies(128, 1e4); &d[0] == &a[0] || d[1] == a[1] {
		t.Fatal("another base shares the table")
	}
	if d := c.ropeFrequencies(64, 1e6); len(d) != 32 || &d[0] == &a[0] {
		t.Fatal("another dims shares the table")
	}
	if want := 1 / float32(math.Pow(1e6, float64(float32(2)/128))); a[1] != want {
		t.Fatalf("frequency 1 = %g, want %g", a[1], want)
	}
}
