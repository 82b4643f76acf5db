package sdk_test

import (
	"math/rand"
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

// TestRewritesComposeInOnePatch builds random chains of Dropout and Neg
// nodes, some of them graph outputs (whose names graph.Apply keeps by
// renaming the replacement), removes every Dropout in one patch, and checks
// the patch applies and computes the same outputs.
func TestRewritesComposeInOnePatch(t *testing.T) {
	drop := &sdk.Pass{Name: "dropout", Rules: []sdk.Rule{{
		Pattern: sdk.Op("Dropout", sdk.Any("x")),
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Replace(m.Root(), m.Value("x"))
			return nil
		},
	}}}
	// Fold Neg(Neg(x)) → x and Dropout in the same patch too.
	both := &sdk.Pass{Name: "both", Rules: append([]sdk.Rule{{
		Pattern: sdk.Op("Neg", sdk.Op("Neg", sdk.Any("x"))),
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Replace(m.Root(), rw.Add("Identity", []string{m.Value("x")}, nil))
			return nil
		},
	}}, drop.Rules...)}
	r := rand.New(rand.NewSource(7))
	for trial := 0; trial < 200; trial++ {
		b := passtest.NewBuilder("chain")
		v := b.Input("x", graph.F32, graph.D(3))
		outs := map[string]bool{}
		var vals []string
		for i := 0; i < 2+r.Intn(7); i++ {
			op := "Dropout"
			if r.Intn(3) == 0 {
				op = "Neg"
			}
			src := v
			if len(vals) > 0 && r.Intn(4) == 0 {
				src = vals[r.Intn(len(vals))] // branch
			}
			v = b.Op(op, nil, src)
			vals = append(vals, v)
			if r.Intn(3) == 0 && !outs[v] {
				outs[v] = true
				b.Output(v)
			}
		}
		if !outs[v] {
			b.Output(v)
		}
		g := b.MustBuild(t)
		for _, p := range []*sdk.Pass{drop, both} {
			res, err := p.Run(g, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			after, err := graph.Apply(g, res.Patch)
			if err != nil {
				t.Fatalf("trial %d, pass %s: %v\n%s", trial, p.Name, err, describeGraph(g))
			}
			if after.OpCounts()["Dropout"] != 0 {
				t.Fatalf("trial %d: dropout left", trial)
			}
			for i := range g.Outputs {
				if after.Outputs[i].Name != g.Outputs[i].Name {
					t.Fatalf("trial %d, pass %s: output %d renamed %s → %s\n%s\n%s", trial, p.Name, i, g.Outputs[i].Name, after.Outputs[i].Name, describeGraph(g), passtest.Describe(&abi.RunResponse{Patch: res.Patch}))
				}
			}
			passtest.Equivalent(t, g, after, nil, 0)
		}
	}
}

func describeGraph(g *graph.Graph) string {
	s := ""
	for _, n := range g.Nodes {
		s += n.Name + " = " + n.Op + "(" + n.Inputs[0] + ")\n"
	}
	for _, o := range g.Outputs {
		s += "output " + o.Name + "\n"
	}
	return s
}
