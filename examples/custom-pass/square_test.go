package square_test

import (
	"context"
	"testing"

	square "github.com/graphpass/graphpass/examples/custom-pass"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestPowSquare(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *passtest.Builder, x string)
		want  int
	}{
		{"x^2", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Pow", nil, x, b.Scalar("two", 2)))
		}, 1},
		{"x^3 is left alone", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Pow", nil, x, b.Scalar("three", 3)))
		}, 0},
		{"x^y with y an input is left alone", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Pow", nil, x, x))
		}, 0},
		{"two squares, one read twice", func(b *passtest.Builder, x string) {
			s := b.Op("Pow", nil, x, b.Scalar("two", 2))
			b.Output(b.Op("Add", nil, s, b.Op("Pow", nil, s, b.Scalar("two_b", 2))), s)
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := passtest.NewBuilder("g")
			x := b.Input("x", graph.F32, graph.S("batch"), graph.D(8))
			tc.build(b, x)
			g := b.MustBuild(t)
			// The same pass natively and as the committed module: identical
			// patches.
			o := passtest.RunBoth(t, square.Pass, "pow_square.wasm", g, "")
			if o.Rewrites() != tc.want {
				t.Fatalf("%d rewrites, want %d", o.Rewrites(), tc.want)
			}
			// And the graph computes the same values after as before.
			passtest.Equivalent(t, g, o.After, passtest.Dims{"batch": 3}, 0)
		})
	}
}

// TestExamplePipeline runs the example's pipeline.yaml: the module in the
// sandbox, every rewrite validated numerically.
func TestExamplePipeline(t *testing.T) {
	s, err := pipeline.ReadFile("pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Prepare(context.Background(), s, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Reports[0].Pass != "pow_square" || p.Reports[0].Matches == 0 {
		t.Fatalf("first report %+v", p.Reports[0])
	}
	if n := p.Graph.OpCounts()["Pow"]; n != 0 {
		t.Fatalf("%d Pow nodes left", n)
	}
}
