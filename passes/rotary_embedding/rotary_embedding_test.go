package rotary_test

import (
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
	rotary "github.com/graphpass/graphpass/passes/rotary_embedding"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

type form struct {
	ropeType  string  // metadata rope_type
	theta     float64 // metadata rope_theta (0: absent)
	base      float64 // the base inv_freq is computed from
	scaleInv  float64 // divide inv_freq by this (linear-style scaling) when nonzero
	scaling   float64 // attention scaling multiplied into cos and sin (0: none)
	swap      bool    // Add/Mul operands the other way round
	sliceD    bool    // second half sliced with ends=[D] and axes=[3]
	noCast    bool    // positions already float (no integer source)
	wrongHalf bool    // rotate with the halves swapped: not RoPE
}

const d = 8

func build(t *testing.T, f form) *graph.Graph {
	b := passtest.NewBuilder("rope")
	if f.ropeType != "" {
		b.Meta(graph.MetaRopeType, f.ropeType)
	}
	if f.theta != 0 {
		b.Meta(graph.MetaRopeTheta, "1e+06")
	}
	B, S := graph.S("batch"), graph.S("seq")
	var pos string
	if f.noCast {
		pos = b.Input("positions_f", graph.F32, B, S)
	} else {
		pos = b.Input(graph.PositionIDs, graph.I64, B, S)
	}
	inv := make([]float64, d/2)
	base := f.base
	if base == 0 {
		base = 1e6
	}
	for k := range inv {
		inv[k] = float64(float32(1 / math.Pow(base, float64(2*k)/d)))
		if f.scaleInv != 0 {
			inv[k] = float64(float32(inv[k] / f.scaleInv))
		}
	}
	b.Scope = "model.rotary_emb"
	invF := b.Init("model.rotary_emb.inv_freq", graph.F32, []int64{d / 2}, inv)
	pf := pos
	if !f.noCast {
		pf = b.Op("Cast", A{"to": graph.String("f32")}, pos)
	}
	p3 := b.Op("Unsqueeze", A{"axes": graph.Ints(2)}, pf)
	fr := b.Op("Mul", nil, p3, invF)
	emb := b.Op("Concat", A{"axis": graph.Int(-1)}, fr, fr)
	c, s := b.Op("Cos", nil, emb), b.Op("Sin", nil, emb)
	if f.scaling != 0 {
		sc := b.Scalar("attention_scaling", f.scaling)
		c, s = b.Op("Mul", nil, c, sc), b.Op("Mul", nil, s, sc)
	}
	cos := b.Op("Unsqueeze", A{"axes": graph.Ints(1)}, c)
	sin := b.Op("Unsqueeze", A{"axes": graph.Ints(1)}, s)
	b.Scope = "model.layers.0.self_attn"
	for _, name := range []string{"q", "k"} {
		x := b.Input(name, graph.F32, B, graph.D(2), S, graph.D(d))
		lo := b.Op("Slice", A{"axes": graph.Ints(-1), "starts": graph.Ints(0), "ends": graph.Ints(d / 2)}, x)
		hiAttrs := A{"axes": graph.Ints(-1), "starts": graph.Ints(d / 2), "ends": graph.Ints(graph.SliceEnd)}
		if f.sliceD {
			hiAttrs = A{"axes": graph.Ints(3), "starts": graph.Ints(d / 2), "ends": graph.Ints(d)}
		}
		hi := b.Op("Slice", hiAttrs, x)
		var rot string
		if f.wrongHalf {
			rot = b.Op("Concat", A{"axis": graph.Int(-1)}, b.Op("Neg", nil, lo), hi)
		} else {
			rot = b.Op("Concat", A{"axis": graph.Int(-1)}, b.Op("Neg", nil, hi), lo)
		}
		var y string
		if f.swap {
			y = b.Op("Add", nil, b.Op("Mul", nil, sin, rot), b.Op("Mul", nil, cos, x))
		} else {
			y = b.Op("Add", nil, b.Op("Mul", nil, x, cos), b.Op("Mul", nil, rot, sin))
		}
		b.OutputAs(name+"_rot", y)
	}
	return b.MustBuild(t)
}

func TestRotaryEmbedding(t *testing.T) {
	tests := []struct {
		name string
		f    form
		want int
		base float64 // want attr base (0: inv_freq input)
		note string
	}{
		{"qwen3 default, theta in metadata", form{ropeType: "default", theta: 1e6}, 2, 1e6, ""},
		{"no metadata: base solved from inv_freq", form{base: 10000}, 2, 10000, ""},
		{"operands swapped, positive axes", form{swap: true, sliceD: true}, 2, 1e6, ""},
		{"llama3: scaled inv_freq as input", form{ropeType: "llama3", scaleInv: 8}, 2, 0, ""},
		{"default type but frequencies not a power law: inv_freq input", form{ropeType: "default", scaleInv: 3}, 2, 0, ""},
		{"yarn", form{ropeType: "yarn", scaleInv: 4}, 0, 0, `rope_type "yarn" is left alone`},
		{"linear", form{ropeType: "linear", scaleInv: 2}, 0, 0, `rope_type "linear" is left alone`},
		{"attention scaling", form{scaling: 1.2}, 0, 0, "attention_scaling 1.2"},
		{"float positions", form{noCast: true}, 0, 0, "are not an integer [batch, seq] value"},
		{"halves swapped: not rotate_half", form{wrongHalf: true}, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := build(t, tc.f)
			o := passtest.RunBoth(t, rotary.Pass, "rotary_embedding.wasm.gz", g, "")
			o.Expect(t, tc.want, tc.note)
			for _, n := range o.After.Nodes {
				if n.Op != "RoPE" {
					continue
				}
				if n.Inputs[1] != graph.PositionIDs || n.Int("dims") != d {
					t.Errorf("RoPE inputs %v dims %d", n.Inputs, n.Int("dims"))
				}
				if tc.base != 0 && (len(n.Inputs) != 2 || math.Abs(n.Float("base")-tc.base) > 1e-6*tc.base) {
					t.Errorf("RoPE %v base %g, want base %g and no inv_freq", n.Inputs, n.Float("base"), tc.base)
				}
				if tc.base == 0 && len(n.Inputs) != 3 {
					t.Errorf("RoPE inputs %v, want the inv_freq input", n.Inputs)
				}
			}
			if c := o.After.OpCounts(); tc.want > 0 && c["Cos"]+c["Sin"]+c["Slice"] != 0 {
				t.Errorf("unfused rope left: %v", c)
			}
			dims := passtest.Dims{"batch": 2, "seq": 5}
			if !tc.f.noCast {
				passtest.Equivalent(t, g, o.After, dims, 2e-5)
				passtest.Validate(t, g, o.Response.Patch, 0)
			}
		})
	}
}
