package sdk_test

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

// A pattern is written with the graph's own ops; String shows what it
// matches.
func ExampleOp() {
	x := sdk.Any("x")
	sq := sdk.OneOf(sdk.Op("Pow", x, sdk.Scalar(2)), sdk.Op("Mul", x, x))
	ms := sdk.Op("ReduceMean", sq).Attr("axes", graph.Ints(-1))
	norm := sdk.Op("Mul", x, sdk.Op("Rsqrt", sdk.Op("Add", ms, sdk.Const("eps"))))
	fmt.Println(sdk.Op("Mul", sdk.Any("weight"), norm))
	// Output: Mul(weight, Mul(x, Rsqrt(Add(ReduceMean(oneof(Pow(x, 2) | Mul(x, x))), const eps))))
}

// A complete pass: fuse silu(gate)·up, leave broadcasting products alone
// with a note, and run it natively on a small graph.
func ExamplePass() {
	p := &sdk.Pass{
		Name: "swiglu", Version: "1.0.0", Description: "fuse Mul(Silu(gate), up)",
		Rules: []sdk.Rule{{
			Pattern: sdk.Op("Mul", sdk.Op("Silu", sdk.Any("gate")), sdk.Any("up")),
			Check: func(m *sdk.Match) string {
				if !m.Type("gate").Shape.Equal(m.Type("up").Shape) {
					return "gate and up differ in shape"
				}
				return ""
			},
			Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
				rw.Replace(m.Root(), rw.Add("SwiGLU", []string{m.Value("gate"), m.Value("up")}, nil))
				return nil
			},
		}},
	}
	b := passtest.NewBuilder("mlp")
	b.Scope = "mlp"
	gate := b.Input("gate", graph.F32, graph.D(2), graph.D(8))
	up := b.Input("up", graph.F32, graph.D(2), graph.D(8))
	bias := b.Input("scale", graph.F32, graph.D(8))
	b.Output(b.Op("Mul", nil, b.Op("Silu", nil, gate), up))
	b.Output(b.Op("Mul", nil, up, b.Op("Silu", nil, bias)))
	g, _ := b.Build()

	res, _ := p.Run(g, nil, "")
	for _, rw := range res.Patch.Rewrites {
		fmt.Printf("%s: remove %v, add %s(%v)\n", rw.Reason, rw.RemoveNodes, rw.AddNodes[0].Op, rw.AddNodes[0].Inputs)
	}
	for _, n := range res.Notes {
		fmt.Println("note:", n)
	}
	after, _ := graph.Apply(g, res.Patch)
	fmt.Println(after.OpCounts())
	// Output:
	// swiglu at mlp: remove [mlp/Mul_1], add SwiGLU([gate up])
	// note: mlp/Mul_2: gate and up differ in shape
	// map[Mul:1 Silu:1 SwiGLU:1]
}
