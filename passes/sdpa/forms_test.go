package sdpa_test

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

// Small attentions in the forms exporters write, beyond what the model
// builders emit: kᵀ through transpose_b, no mask, a non-causal mask, a
// mask that is not an AttentionMask, scale on the other side.
func TestSDPAForms(t *testing.T) {
	B, S, T := graph.S("batch"), graph.S("seq"), graph.S("past+seq")
	tests := []struct {
		name  string
		build func(b *passtest.Builder, q, k, v string) string
		want  int
		mask  string
		scale float64
		note  string
	}{
		{"transpose_b, no mask, scale first", func(b *passtest.Builder, q, k, v string) string {
			s := b.Op("Mul", nil, b.Scalar("scale", 0.25), b.Op("MatMul", A{"transpose_b": graph.Int(1)}, q, k))
			return b.Op("MatMul", nil, b.Op("Softmax", A{"axis": graph.Int(-1)}, s), v)
		}, 1, "none", 0.25, ""},
		{"div by sqrt(d), mask first in the add", func(b *passtest.Builder, q, k, v string) string {
			m := b.Op("AttentionMask", A{"causal": graph.Int(1)}, graph.AttentionMask, graph.InputIDs)
			s := b.Op("Div", nil, b.Op("MatMul", nil, q, b.Op("Transpose", A{"perm": graph.Ints(0, 1, 3, 2)}, k)), b.Scalar("sqrt_d", 4))
			return b.Op("MatMul", nil, b.Op("Softmax", A{"axis": graph.Int(3)}, b.Op("Add", nil, m, s)), v)
		}, 1, "causal", 0.25, ""},
		{"non-causal padding mask", func(b *passtest.Builder, q, k, v string) string {
			m := b.Op("AttentionMask", A{"causal": graph.Int(0)}, graph.AttentionMask, graph.InputIDs)
			s := b.Op("Add", nil, b.Op("MatMul", A{"transpose_b": graph.Int(1)}, q, k), m)
			return b.Op("MatMul", nil, b.Op("Softmax", nil, s), v)
		}, 1, "none", 1, ""},
		{"mask that is not an AttentionMask", func(b *passtest.Builder, q, k, v string) string {
			bias := b.Input("bias", graph.F32, B, graph.D(1), S, T)
			s := b.Op("Add", nil, b.Op("MatMul", A{"transpose_b": graph.Int(1)}, q, k), bias)
			return b.Op("MatMul", nil, b.Op("Softmax", nil, s), v)
		}, 0, "", 0, "not an AttentionMask"},
		{"softmax over the query axis", func(b *passtest.Builder, q, k, v string) string {
			s := b.Op("MatMul", A{"transpose_b": graph.Int(1)}, q, k)
			return b.Op("MatMul", nil, b.Op("Softmax", A{"axis": graph.Int(2)}, s), v)
		}, 0, "", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := passtest.NewBuilder("attn")
			b.Input(graph.InputIDs, graph.I64, B, S)
			b.Input(graph.AttentionMask, graph.I64, B, T)
			b.Scope = "attn"
			q := b.Input("q", graph.F32, B, graph.D(4), S, graph.D(16))
			k := b.Input("k", graph.F32, B, graph.D(2), T, graph.D(16))
			v := b.Input("v", graph.F32, B, graph.D(2), T, graph.D(16))
			rep := A{"repeats": graph.Int(2), "axis": graph.Int(1)}
			kr, vr := b.Op("RepeatInterleave", rep, k), b.Op("RepeatInterleave", rep, v)
			b.Output(tc.build(b, q, kr, vr))
			g := b.MustBuild(t)
			o := passtest.RunBoth(t, sdpa.Pass, "sdpa.wasm.gz", g, "")
			if o.Rewrites() != tc.want {
				t.Fatalf("%d rewrites, want %d; notes %v", o.Rewrites(), tc.want, o.NoteMessages())
			}
			if tc.note != "" && !o.HasNote(tc.note) {
				t.Errorf("notes %v, want %q", o.NoteMessages(), tc.note)
			}
			for _, n := range o.After.Nodes {
				if n.Op == "SDPA" {
					if n.Str("mask") != tc.mask || n.Inputs[1] != k || n.Inputs[2] != v || n.Float("scale") != tc.scale {
						t.Errorf("SDPA %v mask %q scale %g", n.Inputs, n.Str("mask"), n.Float("scale"))
					}
				}
			}
			passtest.Equivalent(t, g, o.After, passtest.DefaultDims, 2e-5)
			passtest.Validate(t, g, o.Response.Patch, 0)
		})
	}
}
