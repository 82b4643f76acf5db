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

// quantizedWeight quantizes a random [n, k] matrix and returns its words,
// scales and biases as tensors, and the dequantized matrix.
func quantizedWeight(t *testing.T, seed uint64, n, k int, p quant.Params) (w, s, b, deq *tensor.Tensor) {
	t.Helper()
	m, err := quant.Quantize(randF32(seed, -1, 1, n, k).F32(), n, k, p, graph.BF16)
	if err != nil {
		t.Fatal(err)
	}
	w, _ = tensor.FromBytes(graph.U32, []int{n, k * p.Bits / 32}, m.WordBytes())
	s, _ = tensor.FromBytes(graph.BF16, []int{n, k / p.GroupSize}, m.Scales)
	b, _ = tensor.FromBytes(graph.BF16, []int{n, k / p.GroupSize}, m.Biases)
	return w, s, b, tensor.FromF32([]int{n, k}, m.Dequantize())
}

// Products that read one x run as one instruction (q, k, v; gate, up),
// and give the bits each gives alone (and the product with the
// dequantized matrix): products of another x, or laid out differently,
// stay apart.
func TestQuantizedProductsGrouped(t *testing.T) {
	const K = 128
	type prod struct {
		name  string
		rows  int
		p     quant.Params
		other bool // reads x2, not x
	}
	prods := []prod{
		{"q", 40, quant.Params{Bits: 4, GroupSize: 64}, false},
		{"k", 24, quant.Params{Bits: 4, GroupSize: 64}, false},
		{"o", 16, quant.Params{Bits: 4, GroupSize: 64}, true},
		{"e", 8, quant.Params{Bits: 8, GroupSize: 64}, false}, // another layout
		{"v", 33, quant.Params{Bits: 4, GroupSize: 64}, false},
	}
	for _, M := range []int{1, 3} {
		x, x2 := randF32(11, -1, 1, 1, M, K), randF32(12, -1, 1, 1, M, K)
		f := newGB("products")
		xi, x2i := f.input("x", x), f.input("x2", x2)
		var singles []*tensor.Tensor
		var refs [][]float64
		for i, pr := range prods {
			w, s, b, deq := quantizedWeight(t, uint64(20+i), pr.rows, K, pr.p)
			a := attrs("bits", graph.Int(int64(pr.p.Bits)), "group_size", graph.Int(int64(pr.p.GroupSize)))
			in := xi
			xv := x
			if pr.other {
				in, xv = x2i, x2
			}
			f.output(f.op("QuantizedMatMul", a, in, f.init(pr.name+".w", w), f.init(pr.name+".s", s), f.init(pr.name+".b", b)))
			singles = append(singles, runOp(t, "QuantizedMatMul", a, []*tensor.Tensor{xv, w, s, b}, 1, 2, 3))
			_, want := refMatMul(xv, deq, true)
			refs = append(refs, want)
		}
		p, err := Compile(f.g, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		var grouped []int
		for _, ins := range p.top.instrs {
			if ins.grouped > 0 {
				grouped = append(grouped, ins.grouped)
			}
		}
		if fmt.Sprint(grouped) != "[3]" || len(p.top.instrs) != 3 {
			t.Fatalf("M=%d: %d instructions, groups %v; want 3 with one group of 3 (q, k, v)", M, len(p.top.instrs), grouped)
		}
		out, err := p.Run(context.Background(), f.inputs)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range f.g.Outputs {
			check(t, fmt.Sprintf("M=%d %s", M, prods[i].name), out[o.Name], []int{1, M, prods[i].rows}, refs[i], 1e-5)
			got, want := out[o.Name].F32(), singles[i].F32()
			for j := range want {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("M=%d %s[%d] = %g grouped, %g alone", M, prods[i].name, j, got[j], want[j])
				}
			}
		}
		p.Close()
	}
}
