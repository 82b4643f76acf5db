package ifpresent_test

import (
	"os"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	ifpresent "github.com/graphpass/graphpass/passes/if_present"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func TestMergedDecoder(t *testing.T) {
	for _, fixture := range []string{"qwen3-tiny", "llama-tiny-llama3rope"} {
		t.Run(fixture, func(t *testing.T) {
			g := testmodels.Fixture(t, fixture, model.BuildOptions{MergedDecoder: true})
			o := passtest.RunBoth(t, ifpresent.Pass, "if_present.wasm.gz", g, "")
			// 2 layers × key and value, plus dropping use_cache_branch.
			if o.Rewrites() != 5 {
				t.Fatalf("%d rewrites, want 5", o.Rewrites())
			}
			if n := o.After.OpCounts()["If"]; n != 0 {
				t.Errorf("%d If nodes left", n)
			}
			if o.After.Input(graph.UseCacheBranch) != nil {
				t.Errorf("use_cache_branch input kept")
			}
			for i, out := range g.Outputs {
				if o.After.Outputs[i].Name != out.Name || !o.After.Outputs[i].Type.Equal(out.Type) {
					t.Errorf("output %d: %v → %v", i, out, o.After.Outputs[i])
				}
			}
			passtest.Equivalent(t, g, o.After, passtest.DefaultDims, 0)
		})
	}
}

// An If on another condition is not the cache branch; and while something
// else reads use_cache_branch, the input stays.
func TestOtherConditions(t *testing.T) {
	b := passtest.NewBuilder("ifs")
	x := b.Input("x", graph.F32, graph.D(3))
	cond := b.Input("flag", graph.Bool, graph.D(1))
	ucb := b.Input(graph.UseCacheBranch, graph.Bool, graph.D(1))
	branch := func(op string) *graph.Graph {
		return &graph.Graph{Nodes: []*graph.Node{{Name: "b_" + op + cond, Op: op, Inputs: []string{x}, Outputs: []string{"v_" + op + cond}}},
			Outputs: []graph.ValueInfo{{Name: "v_" + op + cond, Type: graph.T(graph.F32, graph.D(3))}}}
	}
	other := b.Node("If", nil, cond)
	other.Subgraphs = map[string]*graph.Graph{"then_branch": branch("Neg"), "else_branch": branch("Abs")}
	cond = "ucb"
	mine := b.Node("If", nil, ucb)
	mine.Subgraphs = map[string]*graph.Graph{"then_branch": branch("Neg"), "else_branch": branch("Abs")}
	b.Output(other.Outputs[0], mine.Outputs[0], b.Op("Cast", passtest.A{"to": graph.String("f32")}, ucb))
	g := b.MustBuild(t)
	o := passtest.RunBoth(t, ifpresent.Pass, "if_present.wasm.gz", g, "")
	if o.Rewrites() != 1 {
		t.Fatalf("%d rewrites, want 1 (only the If on use_cache_branch)", o.Rewrites())
	}
	if o.After.OpCounts()["If"] != 1 || o.After.Input(graph.UseCacheBranch) == nil {
		t.Errorf("after: ops %v, inputs %v", o.After.OpCounts(), o.After.Inputs)
	}
}
