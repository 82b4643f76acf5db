package layernorm_test

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
	layernorm "github.com/graphpass/graphpass/passes/layer_norm"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

type form struct {
	noBias, noWeight bool
	mulSquare        bool // Mul(d, d) instead of Pow(d, 2)
	rsqrt            bool // Mul(d, Rsqrt(·)) instead of Div(d, Sqrt(·))
	swap             bool // operands of Mul/Add the other way round
	axis             int64
	residual         bool // y + residual after the norm (not a bias)
	epsInput         bool
	extraUse         bool // the centered value d is also a graph output
}

func build(t *testing.T, f form) *graph.Graph {
	b := passtest.NewBuilder("ln")
	b.Scope = "transformer.h.0.ln_1"
	const d = 12
	x := b.Input("x", graph.F32, graph.S("batch"), graph.S("seq"), graph.D(d))
	axis := f.axis
	if axis == 0 {
		axis = -1
	}
	red := A{"axes": graph.Ints(axis), "keepdims": graph.Int(1)}
	mu := b.Op("ReduceMean", red, x)
	dd := b.Op("Sub", nil, x, mu)
	var sq string
	if f.mulSquare {
		sq = b.Op("Mul", nil, dd, dd)
	} else {
		sq = b.Op("Pow", nil, dd, b.Scalar("two", 2))
	}
	v := b.Op("ReduceMean", red, sq)
	var eps string
	if f.epsInput {
		eps = b.Input("eps", graph.F32)
	} else {
		eps = b.Scalar("eps", 1e-5)
	}
	den := b.Op("Add", nil, v, eps)
	var n string
	if f.rsqrt {
		n = b.Op("Mul", nil, dd, b.Op("Rsqrt", nil, den))
	} else {
		n = b.Op("Div", nil, dd, b.Op("Sqrt", nil, den))
	}
	y := n
	if !f.noWeight {
		w := b.Rand("transformer.h.0.ln_1.weight", graph.F32, []int64{d}, 0.2, 1)
		if f.swap {
			y = b.Op("Mul", nil, w, y)
		} else {
			y = b.Op("Mul", nil, y, w)
		}
	}
	if !f.noBias {
		bias := b.Rand("transformer.h.0.ln_1.bias", graph.F32, []int64{d}, 0.2, 0)
		if f.swap {
			y = b.Op("Add", nil, bias, y)
		} else {
			y = b.Op("Add", nil, y, bias)
		}
	}
	if f.residual {
		y = b.Op("Add", nil, y, x)
	}
	b.Output(y)
	if f.extraUse {
		b.Output(dd)
	}
	return b.MustBuild(t)
}

func TestLayerNorm(t *testing.T) {
	tests := []struct {
		name   string
		f      form
		want   int
		inputs int // LayerNorm inputs (2 without bias)
		note   string
	}{
		{"gpt2", form{}, 1, 3, ""},
		{"rsqrt, mul square, swapped", form{rsqrt: true, mulSquare: true, swap: true}, 1, 3, ""},
		{"no bias", form{noBias: true}, 1, 2, ""},
		{"no weight: ones", form{noWeight: true}, 1, 3, ""},
		{"neither", form{noWeight: true, noBias: true}, 1, 2, ""},
		{"positive last axis", form{axis: 2}, 1, 3, ""},
		{"residual after the norm stays outside", form{residual: true}, 1, 3, ""},
		{"centered value read elsewhere", form{extraUse: true}, 1, 3, ""},
		{"other axis", form{axis: 1}, 0, 0, "LayerNorm normalises only the last axis"},
		{"eps not constant", form{epsInput: true}, 0, 0, "eps is not a single constant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := build(t, tc.f)
			o := passtest.RunBoth(t, layernorm.Pass, "layer_norm.wasm.gz", g, "")
			o.Expect(t, tc.want, tc.note)
			c := o.After.OpCounts()
			if tc.want == 1 {
				if c["LayerNorm"] != 1 || c["ReduceMean"] != 0 && !tc.f.extraUse {
					t.Errorf("ops after: %v", c)
				}
				for _, n := range o.After.Nodes {
					if n.Op == "LayerNorm" && len(n.Inputs) != tc.inputs {
						t.Errorf("LayerNorm has inputs %v, want %d", n.Inputs, tc.inputs)
					}
				}
			}
			if !tc.f.epsInput {
				passtest.Equivalent(t, g, o.After, passtest.Dims{"batch": 2, "seq": 3}, 1e-5)
			}
		})
	}
}
