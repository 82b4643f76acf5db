package rmsnorm_test

import (
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	rmsnorm "github.com/graphpass/graphpass/passes/rms_norm"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

// form describes one way of writing the norm.
type form struct {
	mulSquare bool    // Mul(x, x) instead of Pow(x, 2)
	divSqrt   bool    // Div(x, Sqrt(·)) instead of Mul(x, Rsqrt(·))
	swap      bool    // operands in the other order
	axes      []int64 // reduction axes; nil: [-1]
	shift     float64 // weight = Add(shift, w) when nonzero
	wdtype    graph.DType
	perHead   bool // Qwen3 q/k norm: x [B,S,H,D]
	extraUse  bool // the normalized value is also a graph output
	epsInput  bool // eps is a graph input, not a constant
	noWeight  bool // y = x * rsqrt(...) with no weight at all
	scalarW   bool // weight is a scalar, not per channel
	centered  bool // x - mean(x) is normalised: a LayerNorm
}

func build(t *testing.T, f form) *graph.Graph {
	b := passtest.NewBuilder("rms")
	b.Scope = "model.layers.0.input_layernorm"
	var x string
	d := int64(16)
	if f.perHead {
		x = b.Input("x", graph.F32, graph.S("batch"), graph.S("seq"), graph.D(4), graph.D(d))
	} else {
		x = b.Input("x", graph.F32, graph.S("batch"), graph.S("seq"), graph.D(d))
	}
	if f.centered {
		x = b.Op("Sub", nil, x, b.Op("ReduceMean", A{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, x))
	}
	var sq string
	if f.mulSquare {
		sq = b.Op("Mul", nil, x, x)
	} else {
		sq = b.Op("Pow", nil, x, b.Scalar("two", 2))
	}
	axes := f.axes
	if axes == nil {
		axes = []int64{-1}
	}
	ms := b.Op("ReduceMean", A{"axes": graph.Ints(axes...), "keepdims": graph.Int(1)}, sq)
	var eps string
	if f.epsInput {
		eps = b.Input("eps", graph.F32)
	} else {
		eps = b.Scalar("eps", 1e-6)
	}
	var den string
	if f.swap {
		den = b.Op("Add", nil, eps, ms)
	} else {
		den = b.Op("Add", nil, ms, eps)
	}
	var n string
	switch {
	case f.divSqrt:
		n = b.Op("Div", nil, x, b.Op("Sqrt", nil, den))
	case f.swap:
		n = b.Op("Mul", nil, b.Op("Rsqrt", nil, den), x)
	default:
		n = b.Op("Mul", nil, x, b.Op("Rsqrt", nil, den))
	}
	if f.noWeight {
		b.Output(n)
		return b.MustBuild(t)
	}
	wdt := f.wdtype
	if wdt == graph.InvalidDType {
		wdt = graph.F32
	}
	w := b.Rand("model.layers.0.input_layernorm.weight", wdt, []int64{d}, 0.1, 1)
	if f.scalarW {
		w = b.Scalar("w", 1.5)
	}
	if f.shift != 0 {
		w = b.Op("Add", nil, b.Scalar("one", f.shift), w)
	}
	var y string
	if f.swap {
		y = b.Op("Mul", nil, n, w)
	} else {
		y = b.Op("Mul", nil, w, n)
	}
	b.Output(b.Op("Neg", nil, y))
	if f.extraUse {
		b.Output(n)
	}
	return b.MustBuild(t)
}

func TestRMSNorm(t *testing.T) {
	tests := []struct {
		name string
		f    form
		want int
		note string
	}{
		{"llama", form{}, 1, ""},
		{"mul square", form{mulSquare: true}, 1, ""},
		{"div sqrt", form{divSqrt: true}, 1, ""},
		{"operands swapped", form{swap: true}, 1, ""},
		{"positive axis", form{axes: []int64{2}}, 1, ""},
		{"bf16 weight", form{wdtype: graph.BF16}, 1, ""},
		{"qwen3 per-head q/k norm", form{perHead: true}, 1, ""},
		{"normalized value also read elsewhere", form{extraUse: true}, 1, ""},
		{"gemma (1 + w)", form{shift: 1}, 0, "shift 1 ≠ 0"},
		{"not over the last axis", form{axes: []int64{1}}, 0, ""},
		{"eps not constant", form{epsInput: true}, 0, "eps is not a single constant"},
		{"no weight", form{noWeight: true}, 0, ""},
		{"scalar weight", form{scalarW: true}, 0, ""},
		{"centered x: a LayerNorm", form{centered: true}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := build(t, tc.f)
			o := passtest.RunBoth(t, rmsnorm.Pass, "rms_norm.wasm.gz", g, "")
			o.Expect(t, tc.want, tc.note)
			c := o.After.OpCounts()
			if tc.want == 1 {
				if c["RMSNorm"] != 1 || c["Rsqrt"]+c["Sqrt"] != 0 && !tc.f.extraUse {
					t.Errorf("ops after: %v", c)
				}
				n := findOp(o.After, "RMSNorm")
				if eps := n.Float("eps"); !passtestClose(eps, 1e-6) {
					t.Errorf("eps = %g, want 1e-6", eps)
				}
				if n.Inputs[0] != "x" || !strings.HasSuffix(n.Inputs[1], "weight") {
					t.Errorf("RMSNorm reads %v", n.Inputs)
				}
			}
			dims := passtest.Dims{"batch": 2, "seq": 3}
			if tc.f.epsInput {
				return // no sensible random eps; nothing was rewritten anyway
			}
			passtest.Equivalent(t, g, o.After, dims, 1e-5)
		})
	}
}

func passtestClose(a, b float64) bool { return a == float64(float32(b)) || a == b }

func findOp(g *graph.Graph, op string) *graph.Node {
	for _, n := range g.Nodes {
		if n.Op == op {
			return n
		}
	}
	return nil
}
