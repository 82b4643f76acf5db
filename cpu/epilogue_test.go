package cpu

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

// A layer's tail in decode: a product whose only reader is the residual
// Add, and gate and up products whose only reader is a SwiGLU. Fused,
// each pair runs as one instruction and gives the bits the ops give apart
// (the same graph with the products' outputs also read by the caller,
// which keeps them apart), on one token and on several (where the fused
// kernel runs the two ops in turn), on any number of threads, with the
// SwiGLU's operands in either order and a residual of another dtype.
func TestEpiloguesFuseBitIdentical(t *testing.T) {
	const K, N = 128, 72
	p4 := quant.Params{Bits: 4, GroupSize: 64}
	qa := attrs("bits", graph.Int(4), "group_size", graph.Int(64))
	for _, F := range []int{200, 204, 408} { // 204: a tail the vector kernel leaves; 408: pieces of 51 rows on 2 threads, before rounding
		for _, M := range []int{1, 3} {
			for _, swapped := range []bool{false, true} {
				for _, residualDT := range []graph.DType{graph.F32, graph.BF16} {
					name := fmt.Sprintf("F=%d M=%d swapped=%v residual=%s", F, M, swapped, residualDT)
					x, xo := randF32(1, -1, 1, 1, M, K), randF32(6, -1, 1, 1, M, K)
					h := randF32(2, -2, 2, 1, M, N).Convert(residualDT)
					build := func(apart bool) *gb {
						f := newGB("layer tail")
						// o reads another x, as attention's output in a layer.
						xi, xoi, hi := f.input("x", x), f.input("xo", xo), f.input("h", h)
						product := func(x string, seed uint64, rows int, tag string) string {
							w, s, b, _ := quantizedWeight(t, seed, rows, K, p4)
							return f.op("QuantizedMatMul", qa, x, f.init(tag+".w", w), f.init(tag+".s", s), f.init(tag+".b", b))
						}
						o := product(xoi, 3, N, "o")
						g, u := product(xi, 4, F, "gate"), product(xi, 5, F, "up")
						if swapped { // the first product is SwiGLU's up
							g, u = u, g
						}
						f.output(f.op("Add", nil, hi, o))
						f.output(f.op("SwiGLU", nil, g, u))
						if apart {
							f.output(o)
							f.output(g)
						}
						return f
					}
					fused, apart := build(false), build(true)
					want := map[string]string{"QuantizedMatMul+Add": "", "QuantizedMatMul+SwiGLU": ""}
					for _, threads := range []int{1, 2, 3, 8} {
						outs := map[bool]map[string]*tensor.Tensor{}
						for _, f := range []*gb{fused, apart} {
							p, err := Compile(f.g, Options{Threads: threads})
							if err != nil {
								t.Fatal(err)
							}
							var labels []string
							for _, ins := range p.top.instrs {
								if ins.fused != "" {
									labels = append(labels, ins.fused)
								}
							}
							isFused := f == fused
							if got := len(labels); isFused && (got != 2 || len(p.top.instrs) != 2) || !isFused && got != 0 {
								t.Fatalf("%s: fused %v in %d instructions", name, labels, len(p.top.instrs))
							}
							for _, l := range labels {
								if _, ok := want[l]; !ok {
									t.Fatalf("%s: unexpected fused instruction %q", name, l)
								}
							}
							out, err := p.Run(context.Background(), f.inputs)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							outs[isFused] = out
							p.Close()
						}
						for i := range 2 {
							a, b := outs[true][fused.g.Outputs[i].Name], outs[false][apart.g.Outputs[i].Name]
							if !slices.Equal(a.Shape, b.Shape) || a.DType != b.DType {
								t.Fatalf("%s threads=%d output %d: %s%v fused, %s%v apart", name, threads, i, a.DType, a.Shape, b.DType, b.Shape)
							}
							av, bv := a.F32(), b.F32()
							for j := range av {
								if math.Float32bits(av[j]) != math.Float32bits(bv[j]) {
									t.Fatalf("%s threads=%d output %d [%d]: %g fused, %g apart", name, threads, i, j, av[j], bv[j])
								}
							}
						}
					}
				}
			}
		}
	}
}

// The fused residual product computes r + x·Wᵀ against the dequantized
// matrix, so the bit comparison above compares right answers.
func TestResidualProductMatchesReference(t *testing.T) {
	const K, N = 256, 96
	p4 := quant.Params{Bits: 4, GroupSize: 64}
	x, h := randF32(7, -1, 1, 1, 1, K), randF32(8, -2, 2, 1, 1, N)
	w, s, b, deq := quantizedWeight(t, 9, N, K, p4)
	f := newGB("residual")
	xi, hi := f.input("x", x), f.input("h", h)
	o := f.op("QuantizedMatMul", attrs("bits", graph.Int(4), "group_size", graph.Int(64)), xi, f.init("w", w), f.init("s", s), f.init("b", b))
	f.output(f.op("Add", nil, o, hi))
	got := f.run(t)[f.g.Outputs[0].Name]
	_, prod := refMatMul(x, deq, true)
	want := make([]float64, N)
	for j := range want {
		want[j] = prod[j] + float64(h.F32()[j])
	}
	check(t, "r + x·Wᵀ", got, []int{1, 1, N}, want, 1e-5)
}
