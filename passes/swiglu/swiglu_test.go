package swiglu_test

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/passes/swiglu"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

func TestSwiGLU(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *passtest.Builder, g, u string) string
		want  int
		note  string
	}{
		{"llama mlp", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, b.Op("Silu", nil, g), u)
		}, 1, ""},
		{"operands swapped", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, u, b.Op("Silu", nil, g))
		}, 1, ""},
		{"silu written as x*sigmoid(x)", func(b *passtest.Builder, g, u string) string {
			s := b.Op("Mul", nil, b.Op("Sigmoid", nil, g), g)
			return b.Op("Mul", nil, u, s)
		}, 1, ""},
		{"silu also read elsewhere", func(b *passtest.Builder, g, u string) string {
			s := b.Op("Silu", nil, g)
			b.Output(s)
			return b.Op("Mul", nil, s, u)
		}, 1, ""},
		{"gelu gate", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, b.Op("Gelu", nil, g), u)
		}, 0, ""},
		{"sigmoid alone", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, b.Op("Sigmoid", nil, g), u)
		}, 0, ""},
		{"x*sigmoid(y) is not silu", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, b.Op("Mul", nil, b.Op("Sigmoid", nil, u), g), u)
		}, 0, ""},
		{"silu squared", func(b *passtest.Builder, g, u string) string {
			s := b.Op("Silu", nil, g)
			return b.Op("Add", nil, b.Op("Mul", nil, s, s), u)
		}, 0, ""},
		{"generic multiply", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, g, u)
		}, 0, ""},
		{"broadcast up", func(b *passtest.Builder, g, u string) string {
			return b.Op("Mul", nil, b.Op("Silu", nil, g), b.Rand("scale", graph.F32, []int64{8}, 1, 0))
		}, 0, "differ in shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := passtest.NewBuilder("mlp")
			b.Scope = "model.layers.0.mlp"
			x := b.Input("x", graph.F32, graph.S("batch"), graph.S("seq"), graph.D(6))
			gate := b.Op("MatMul", A{"transpose_b": graph.Int(1)}, x, b.Rand("gate_proj.weight", graph.BF16, []int64{8, 6}, 0.5, 0))
			up := b.Op("MatMul", A{"transpose_b": graph.Int(1)}, x, b.Rand("up_proj.weight", graph.BF16, []int64{8, 6}, 0.5, 0))
			b.Output(tc.build(b, gate, up))
			g := b.MustBuild(t)
			o := passtest.RunBoth(t, swiglu.Pass, "swiglu.wasm.gz", g, "")
			o.Expect(t, tc.want, tc.note)
			if got := o.After.OpCounts()["SwiGLU"]; got != tc.want {
				t.Errorf("%d SwiGLU nodes, want %d", got, tc.want)
			}
			passtest.Equivalent(t, g, o.After, passtest.Dims{"batch": 2, "seq": 3}, 1e-6)
		})
	}
}
