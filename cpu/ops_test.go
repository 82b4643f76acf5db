package cpu

import (
	"math"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func TestUnary(t *testing.T) {
	tests := []struct {
		op     string
		lo, hi float32
		ref    func(float64) float64
		attrs  map[string]graph.Attr
	}{
		{"Identity", -3, 3, func(x float64) float64 { return x }, nil},
		{"Dropout", -3, 3, func(x float64) float64 { return x }, attrs("rate", graph.Float(0.1))},
		{"Neg", -3, 3, func(x float64) float64 { return -x }, nil},
		{"Abs", -3, 3, math.Abs, nil},
		{"Sqrt", 0.01, 9, math.Sqrt, nil},
		{"Rsqrt", 0.01, 9, func(x float64) float64 { return 1 / math.Sqrt(x) }, nil},
		{"Exp", -5, 5, math.Exp, nil},
		{"Log", 0.01, 9, math.Log, nil},
		{"Sin", -7, 7, math.Sin, nil},
		{"Cos", -7, 7, math.Cos, nil},
		{"Tanh", -4, 4, math.Tanh, nil},
		{"Erf", -3, 3, math.Erf, nil},
		{"Sigmoid", -8, 8, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, nil},
		{"Silu", -8, 8, func(x float64) float64 { return x / (1 + math.Exp(-x)) }, nil},
		{"Gelu", -4, 4, func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }, nil},
		{"Gelu", -4, 4, func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		}, attrs("approximate", graph.String("tanh"))},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			x := randF32(1, tt.lo, tt.hi, 3, 37)
			want := make([]float64, x.Len())
			for i, v := range f64s(x) {
				want[i] = tt.ref(v)
			}
			check(t, tt.op, runOp(t, tt.op, tt.attrs, []*tensor.Tensor{x}), x.Shape, want, 1e-6)
			// bf16 input gives a bf16 result.
			xb := x.Convert(graph.BF16)
			yb := runOp(t, tt.op, tt.attrs, []*tensor.Tensor{xb})
			if yb.DType != graph.BF16 {
				t.Fatalf("bf16 input gave %s", yb.DType)
			}
			for i, v := range f64s(xb) {
				want[i] = tt.ref(v)
			}
			check(t, tt.op+" bf16", yb, x.Shape, want, 1e-2)
		})
	}
}

func TestBinary(t *testing.T) {
	ops := map[string]func(a, b float64) float64{
		"Add": func(a, b float64) float64 { return a + b },
		"Sub": func(a, b float64) float64 { return a - b },
		"Mul": func(a, b float64) float64 { return a * b },
		"Div": func(a, b float64) float64 { return a / b },
		"Pow": math.Pow,
		"Max": math.Max,
		"Min": math.Min,
	}
	shapes := []struct{ a, b []int }{
		{[]int{5}, []int{5}},
		{[]int{2, 3, 4}, []int{4}},
		{[]int{2, 1, 4}, []int{3, 1}},
		{nil, []int{2, 2}},
		{[]int{2, 3, 7}, nil},
		{[]int{2, 3}, []int{1, 3}},
		{[]int{3, 1, 5, 1}, []int{1, 2, 1, 3}},
		{[]int{1, 4, 1, 9}, []int{2, 4, 3, 9}},
	}
	for op, ref := range ops {
		for si, s := range shapes {
			a := randF32(uint64(si), 0.5, 2, s.a...)
			b := randF32(uint64(si)+100, 0.5, 2, s.b...)
			out, _ := broadcastShape(s.a, s.b)
			want := make([]float64, tensor.NumElements(out))
			av, bv := f64s(a), f64s(b)
			for i := range want {
				idx := unflat(out, i)
				want[i] = ref(bcastAt(av, s.a, idx), bcastAt(bv, s.b, idx))
			}
			check(t, op, runOp(t, op, nil, []*tensor.Tensor{a, b}), out, want, 1e-6)
			// f32 activations meet a bf16 weight: f32 result of the widened weight.
			bw := b.Convert(graph.BF16)
			bwv := f64s(bw)
			for i := range want {
				idx := unflat(out, i)
				want[i] = ref(bcastAt(av, s.a, idx), bcastAt(bwv, s.b, idx))
			}
			y := runOp(t, op, nil, []*tensor.Tensor{a, bw}, 1)
			if y.DType != graph.F32 {
				t.Fatalf("%s f32×bf16 gave %s", op, y.DType)
			}
			check(t, op+" bf16 weight", y, out, want, 1e-6)
		}
	}
}

func TestBinaryInt(t *testing.T) {
	a := tensor.FromI64([]int{2, 3}, []int64{1, -7, 3, 4, 10, 6})
	b := tensor.FromI64([]int{3}, []int64{2, 3, -1})
	tests := map[string][]int64{
		"Add": {3, -4, 2, 6, 13, 5},
		"Sub": {-1, -10, 4, 2, 7, 7},
		"Mul": {2, -21, -3, 8, 30, -6},
		"Div": {0, -2, -3, 2, 3, -6},
		"Max": {2, 3, 3, 4, 10, 6},
		"Min": {1, -7, -1, 2, 3, -1},
	}
	for op, want := range tests {
		y := runOp(t, op, nil, []*tensor.Tensor{a, b})
		if y.DType != graph.I64 {
			t.Fatalf("%s: dtype %s", op, y.DType)
		}
		for i, w := range want {
			if y.I64()[i] != w {
				t.Errorf("%s: %v, want %v", op, y.I64(), want)
				break
			}
		}
	}
	err := runOpErr("Div", nil, []*tensor.Tensor{a, tensor.FromI64([]int{1}, []int64{0})})
	if err == nil || !strings.Contains(err.Error(), "division by zero") || !strings.Contains(err.Error(), `node "n"`) {
		t.Errorf("integer division by zero: %v", err)
	}
}

func TestReduce(t *testing.T) {
	x := randF32(3, -2, 2, 3, 4, 5)
	v := f64s(x)
	tests := []struct {
		axes []int64
		keep int64
	}{
		{[]int64{-1}, 1}, {[]int64{0}, 0}, {[]int64{1}, 1}, {[]int64{0, 2}, 0}, {nil, 0}, {[]int64{2, 0}, 1},
	}
	for _, op := range []string{"ReduceMean", "ReduceSum", "ReduceMax"} {
		for _, tt := range tests {
			red := map[int]bool{}
			for _, a := range tt.axes {
				red[(int(a)+3)%3] = true
			}
			if len(tt.axes) == 0 {
				red = map[int]bool{0: true, 1: true, 2: true}
			}
			var outShape, keptShape []int
			for i, d := range x.Shape {
				if !red[i] {
					outShape = append(outShape, d)
					keptShape = append(keptShape, d)
				} else if tt.keep != 0 {
					outShape = append(outShape, 1)
				}
			}
			n := tensor.NumElements(keptShape)
			acc := make([]float64, n)
			cnt := make([]float64, n)
			for i := range acc {
				if op == "ReduceMax" {
					acc[i] = math.Inf(-1)
				}
			}
			for i, val := range v {
				idx := unflat(x.Shape, i)
				var k []int
				for d, j := range idx {
					if !red[d] {
						k = append(k, j)
					}
				}
				o := flat(keptShape, k...)
				if op == "ReduceMax" {
					acc[o] = math.Max(acc[o], val)
				} else {
					acc[o] += val
				}
				cnt[o]++
			}
			if op == "ReduceMean" {
				for i := range acc {
					acc[i] /= cnt[i]
				}
			}
			y := runOp(t, op, attrs("axes", graph.Ints(tt.axes...), "keepdims", graph.Int(tt.keep)), []*tensor.Tensor{x})
			check(t, op, y, outShape, acc, 1e-6)
		}
	}
}

func TestSoftmax(t *testing.T) {
	x := randF32(4, -5, 5, 2, 3, 7)
	for _, axis := range []int64{-1, 1, 0} {
		ax := (int(axis) + 3) % 3
		v := f64s(x)
		want := make([]float64, len(v))
		for i := range v {
			idx := unflat(x.Shape, i)
			m, s := math.Inf(-1), 0.0
			for j := 0; j < x.Shape[ax]; j++ {
				idx2 := append([]int(nil), idx...)
				idx2[ax] = j
				m = math.Max(m, v[flat(x.Shape, idx2...)])
			}
			for j := 0; j < x.Shape[ax]; j++ {
				idx2 := append([]int(nil), idx...)
				idx2[ax] = j
				s += math.Exp(v[flat(x.Shape, idx2...)] - m)
			}
			want[i] = math.Exp(v[i]-m) / s
		}
		check(t, "Softmax", runOp(t, "Softmax", attrs("axis", graph.Int(axis)), []*tensor.Tensor{x}), x.Shape, want, 1e-6)
	}
	// A fully masked row (every logit MaskValue) stays finite and uniform.
	m := tensor.FromF32([]int{1, 4}, []float32{maskValue, maskValue, maskValue, maskValue})
	check(t, "masked", runOp(t, "Softmax", nil, []*tensor.Tensor{m}), []int{1, 4}, []float64{.25, .25, .25, .25}, 0)
}

func refMatMul(a, b *tensor.Tensor, transB bool) ([]int, []float64) {
	as, bs := a.Shape, b.Shape
	vecA := len(as) == 1
	if vecA {
		as = []int{1, as[0]}
	}
	M, K := as[len(as)-2], as[len(as)-1]
	N := bs[len(bs)-1]
	if transB {
		N = bs[len(bs)-2]
	}
	batch, _ := broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	out := append(append([]int(nil), batch...), M, N)
	av, bv := f64s(a), f64s(b)
	nb := tensor.NumElements(batch)
	res := make([]float64, nb*M*N)
	for bi := 0; bi < nb; bi++ {
		bidx := unflat(batch, bi)
		for m := 0; m < M; m++ {
			for n := 0; n < N; n++ {
				var s float64
				for k := 0; k < K; k++ {
					ai := append(append([]int(nil), bidx...), m, k)
					bj := append(append([]int(nil), bidx...), k, n)
					if transB {
						bj = append(append([]int(nil), bidx...), n, k)
					}
					s += bcastAt(av, as, ai) * bcastAt(bv, bs, bj)
				}
				res[(bi*M+m)*N+n] = s
			}
		}
	}
	if vecA {
		out = append(append([]int(nil), batch...), N)
	}
	return out, res
}

func TestMatMul(t *testing.T) {
	tests := []struct {
		a, b   []int
		transB bool
		dt     graph.DType // of b
		weight bool        // b is an initializer
	}{
		{[]int{3, 5}, []int{5, 7}, false, graph.F32, false},
		{[]int{1, 37}, []int{19, 37}, true, graph.BF16, true}, // decode matvec
		{[]int{2, 1, 37}, []int{19, 37}, true, graph.F16, true},
		{[]int{9, 37}, []int{19, 37}, true, graph.BF16, true}, // prefill tiles, N % 4 != 0
		{[]int{6, 64}, []int{130, 64}, true, graph.F32, true},
		{[]int{2, 5, 33}, []int{33, 11}, false, graph.BF16, true}, // GPT-2 Conv1D
		{[]int{2, 3, 4, 5}, []int{5, 6}, false, graph.F32, false},
		{[]int{2, 1, 4, 5}, []int{3, 5, 6}, false, graph.F32, false}, // batch broadcast
		{[]int{2, 3, 4, 5}, []int{2, 3, 6, 5}, true, graph.F32, false},
		{[]int{5}, []int{5, 7}, false, graph.F32, false}, // vector a
		{[]int{40, 8}, []int{8, 3}, false, graph.F32, false},
	}
	for i, tt := range tests {
		a := randF32(uint64(i), -1, 1, tt.a...)
		b := randF32(uint64(i)+50, -1, 1, tt.b...).Convert(tt.dt)
		var consts []int
		if tt.weight {
			consts = []int{1}
		}
		y := runOp(t, "MatMul", attrs("transpose_b", graph.Int(map[bool]int64{true: 1}[tt.transB])), []*tensor.Tensor{a, b}, consts...)
		shape, want := refMatMul(a, b, tt.transB)
		check(t, "MatMul", y, shape, want, 1e-5)
		if y.DType != graph.F32 {
			t.Errorf("dtype %s", y.DType)
		}
	}
	err := runOpErr("MatMul", nil, []*tensor.Tensor{randF32(1, 0, 1, 2, 3), randF32(1, 0, 1, 4, 5)})
	if err == nil {
		t.Error("mismatched inner dims accepted")
	}
}

func TestShapeOps(t *testing.T) {
	x := randF32(5, -1, 1, 2, 3, 4)
	v := f64s(x)
	t.Run("Reshape", func(t *testing.T) {
		y := runOp(t, "Reshape", attrs("shape", graph.Ints(0, -1, 2)), []*tensor.Tensor{x})
		check(t, "Reshape", y, []int{2, 6, 2}, v, 0)
	})
	t.Run("Transpose", func(t *testing.T) {
		// A size-1 axis makes some permutations views (keepsOrder).
		x1 := randF32(6, -1, 1, 2, 1, 3, 4)
		v1 := f64s(x1)
		perms := [][]int64{{0, 2, 1}, {2, 0, 1}, {1, 0, 2}, {0, 1, 2}, {2, 1, 0}}
		perms1 := [][]int64{{0, 2, 1, 3}, {1, 0, 2, 3}, {0, 1, 3, 2}, {3, 2, 1, 0}, {2, 1, 0, 3}}
		for _, c := range []struct {
			x     *tensor.Tensor
			v     []float64
			perms [][]int64
		}{{x, v, perms}, {x1, v1, perms1}} {
			for _, perm := range c.perms {
				shape := make([]int, len(perm))
				for d, p := range perm {
					shape[d] = c.x.Shape[p]
				}
				want := make([]float64, len(c.v))
				for i := range want {
					idx := unflat(shape, i)
					src := make([]int, len(perm))
					for d, p := range perm {
						src[p] = idx[d]
					}
					want[i] = c.v[flat(c.x.Shape, src...)]
				}
				check(t, "Transpose", runOp(t, "Transpose", attrs("perm", graph.Ints(perm...)), []*tensor.Tensor{c.x}), shape, want, 0)
			}
		}
	})
	t.Run("keepsOrder", func(t *testing.T) {
		for _, c := range []struct {
			shape, perm []int
			want        bool
		}{
			{[]int{2, 1, 3, 4}, []int{0, 2, 1, 3}, true},
			{[]int{2, 1, 3, 4}, []int{1, 0, 2, 3}, true},
			{[]int{2, 1, 3, 4}, []int{2, 1, 0, 3}, false},
			{[]int{2, 3, 4}, []int{0, 1, 2}, true},
			{[]int{2, 3, 4}, []int{0, 2, 1}, false},
			{[]int{1, 1, 5}, []int{1, 0, 2}, true},
			{[]int{1, 16, 1, 128}, []int{0, 2, 1, 3}, true},
		} {
			if got := keepsOrder(c.shape, c.perm); got != c.want {
				t.Errorf("keepsOrder(%v, %v) = %v, want %v", c.shape, c.perm, got, c.want)
			}
		}
	})
	t.Run("Slice", func(t *testing.T) {
		tests := []struct {
			axes, starts, ends, steps []int64
			want                      func(i, j, k int) bool
			shape                     []int
		}{
			{[]int64{-1}, []int64{0}, []int64{2}, nil, func(i, j, k int) bool { return k < 2 }, []int{2, 3, 2}},
			{[]int64{-1}, []int64{2}, []int64{graph.SliceEnd}, nil, func(i, j, k int) bool { return k >= 2 }, []int{2, 3, 2}},
			{[]int64{1}, []int64{-2}, []int64{graph.SliceEnd}, nil, func(i, j, k int) bool { return j >= 1 }, []int{2, 2, 4}},
			{[]int64{2, 0}, []int64{1, 1}, []int64{100, 2}, []int64{2, 1}, func(i, j, k int) bool { return i == 1 && k%2 == 1 }, []int{1, 3, 2}},
			{[]int64{1}, []int64{2}, []int64{1}, nil, func(i, j, k int) bool { return false }, []int{2, 0, 4}},
		}
		for _, tt := range tests {
			var want []float64
			for i := range v {
				idx := unflat(x.Shape, i)
				if tt.want(idx[0], idx[1], idx[2]) {
					want = append(want, v[i])
				}
			}
			a := attrs("axes", graph.Ints(tt.axes...), "starts", graph.Ints(tt.starts...), "ends", graph.Ints(tt.ends...))
			if tt.steps != nil {
				a["steps"] = graph.Ints(tt.steps...)
			}
			check(t, "Slice", runOp(t, "Slice", a, []*tensor.Tensor{x}), tt.shape, want, 0)
		}
	})
	t.Run("Concat", func(t *testing.T) {
		b := randF32(6, -1, 1, 2, 1, 4)
		y := runOp(t, "Concat", attrs("axis", graph.Int(1)), []*tensor.Tensor{x, b})
		bv := f64s(b)
		var want []float64
		for i := 0; i < 2; i++ {
			want = append(want, v[i*12:(i+1)*12]...)
			want = append(want, bv[i*4:(i+1)*4]...)
		}
		check(t, "Concat", y, []int{2, 4, 4}, want, 0)
		empty := tensor.New(graph.F32, 2, 0, 4)
		check(t, "Concat empty", runOp(t, "Concat", attrs("axis", graph.Int(-2)), []*tensor.Tensor{empty, x}), x.Shape, v, 0)
	})
	t.Run("UnsqueezeSqueeze", func(t *testing.T) {
		y := runOp(t, "Unsqueeze", attrs("axes", graph.Ints(0, -1)), []*tensor.Tensor{x})
		check(t, "Unsqueeze", y, []int{1, 2, 3, 4, 1}, v, 0)
		z := runOp(t, "Squeeze", attrs("axes", graph.Ints(0, 4)), []*tensor.Tensor{y})
		check(t, "Squeeze", z, x.Shape, v, 0)
	})
	t.Run("RepeatInterleave", func(t *testing.T) {
		y := runOp(t, "RepeatInterleave", attrs("repeats", graph.Int(3), "axis", graph.Int(1)), []*tensor.Tensor{x})
		want := make([]float64, 0, 3*len(v))
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				for r := 0; r < 3; r++ {
					want = append(want, v[flat(x.Shape, i, j, 0):flat(x.Shape, i, j, 0)+4]...)
				}
			}
		}
		check(t, "RepeatInterleave", y, []int{2, 9, 4}, want, 0)
	})
	t.Run("Gather", func(t *testing.T) {
		table := randF32(7, -1, 1, 10, 6).Convert(graph.BF16)
		idx := tensor.FromI64([]int{2, 3}, []int64{0, 9, 3, -1, 4, 4})
		y := runOp(t, "Gather", nil, []*tensor.Tensor{table, idx}, 0)
		if y.DType != graph.BF16 {
			t.Fatalf("dtype %s", y.DType)
		}
		tv := f64s(table)
		var want []float64
		for _, i := range []int{0, 9, 3, 9, 4, 4} {
			want = append(want, tv[i*6:(i+1)*6]...)
		}
		check(t, "Gather", y, []int{2, 3, 6}, want, 0)
		y1 := runOp(t, "Gather", attrs("axis", graph.Int(1)), []*tensor.Tensor{x, tensor.FromI64([]int{2}, []int64{2, 0})})
		var want1 []float64
		for i := 0; i < 2; i++ {
			for _, j := range []int{2, 0} {
				o := flat(x.Shape, i, j, 0)
				want1 = append(want1, v[o:o+4]...)
			}
		}
		check(t, "Gather axis 1", y1, []int{2, 2, 4}, want1, 0)
		err := runOpErr("Gather", nil, []*tensor.Tensor{table, tensor.FromI64([]int{1}, []int64{10})})
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("out-of-range index: %v", err)
		}
	})
	t.Run("Where", func(t *testing.T) {
		cond := tensor.FromBool([]int{3, 1}, []bool{true, false, true})
		b := randF32(8, -1, 1, 4)
		y := runOp(t, "Where", nil, []*tensor.Tensor{cond, x, b})
		bv := f64s(b)
		want := make([]float64, len(v))
		for i := range want {
			idx := unflat(x.Shape, i)
			if idx[1] != 1 {
				want[i] = v[i]
			} else {
				want[i] = bv[idx[2]]
			}
		}
		check(t, "Where", y, x.Shape, want, 0)
	})
	t.Run("CastConstant", func(t *testing.T) {
		y := runOp(t, "Cast", attrs("to", graph.String("i64")), []*tensor.Tensor{tensor.FromF32([]int{3}, []float32{-1.5, 2.7, 0})})
		if y.DType != graph.I64 || y.I64()[0] != -1 || y.I64()[1] != 2 {
			t.Errorf("Cast to i64 = %v", y)
		}
		c := runOp(t, "Constant", attrs("dtype", graph.String("f32"), "shape", graph.Ints(2, 2), "values", graph.Floats(1.5)), nil)
		check(t, "Constant", c, []int{2, 2}, []float64{1.5, 1.5, 1.5, 1.5}, 0)
	})
}
