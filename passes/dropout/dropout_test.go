package dropout_test

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/passes/dropout"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

func TestDropout(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *passtest.Builder, x string)
		want  int
	}{
		{"rate 0", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Neg", nil, b.Op("Dropout", nil, x)))
		}, 1},
		{"rate 0.1 (inference: still the identity)", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Neg", nil, b.Op("Dropout", A{"rate": graph.Float(0.1)}, x)))
		}, 1},
		{"chain, and a dropout that is a graph output", func(b *passtest.Builder, x string) {
			d := b.Op("Dropout", A{"rate": graph.Float(0.5)}, b.Op("Dropout", nil, x))
			b.Output(d, b.Op("Neg", nil, d))
		}, 2},
		{"no dropout", func(b *passtest.Builder, x string) {
			b.Output(b.Op("Neg", nil, x))
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := passtest.NewBuilder("g")
			x := b.Input("x", graph.F32, graph.S("batch"), graph.D(4))
			tc.build(b, x)
			g := b.MustBuild(t)
			o := passtest.RunBoth(t, dropout.Pass, "dropout.wasm.gz", g, "")
			if o.Rewrites() != tc.want {
				t.Fatalf("%d rewrites, want %d", o.Rewrites(), tc.want)
			}
			if n := o.After.OpCounts()["Dropout"]; n != 0 {
				t.Errorf("%d Dropout nodes left", n)
			}
			for i, out := range g.Outputs {
				if o.After.Outputs[i].Name != out.Name {
					t.Errorf("graph output %d renamed %q → %q", i, out.Name, o.After.Outputs[i].Name)
				}
			}
			passtest.Equivalent(t, g, o.After, passtest.Dims{"batch": 2}, 0)
		})
	}
}

// Errors travel the ABI like patches: the module reports the same
// structured error the native pass does.
func TestOptionsErrorThroughTheModule(t *testing.T) {
	b := passtest.NewBuilder("g")
	b.Output(b.Op("Dropout", nil, b.Input("x", graph.F32, graph.D(2))))
	g := b.MustBuild(t)
	native := passtest.RunError(t, dropout.Pass, g, `{"rate": 0}`)
	mod, err := passtest.RunModule("dropout.wasm.gz", g, `{"rate": 0}`)
	if err != nil {
		t.Fatal(err)
	}
	if mod.Error == nil || *mod.Error != *native {
		t.Fatalf("module error %v, native %v", mod.Error, native)
	}
	if native.Code != "invalid_options" || native.Message != `pass takes no options, got "rate"` {
		t.Errorf("error %v", native)
	}
}
