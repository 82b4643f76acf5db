package sdk

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

// TestIndexMatchesGraphIndex: the View's index answers exactly as
// graph.Index does, on real decoders (with If subgraphs, attention outputs
// and shared values) and on a graph with oddities.
func TestIndexMatchesGraphIndex(t *testing.T) {
	var graphs []*graph.Graph
	for _, arch := range []string{"qwen3-tiny", "gpt2-tiny"} {
		cfg, err := model.Synthetic(arch)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []model.BuildOptions{{}, {MergedDecoder: true, AttentionOutputs: true, HiddenStates: true}} {
			g, err := model.BuildGraph(cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			graphs = append(graphs, g)
		}
	}
	// A node reading one value twice, an omitted input, a value nothing
	// defines, an output that is also an input.
	graphs = append(graphs, &graph.Graph{
		Inputs:  []graph.ValueInfo{{Name: "x"}},
		Outputs: []graph.ValueInfo{{Name: "x"}, {Name: "y"}},
		Nodes: []*graph.Node{
			{Name: "a", Op: "Mul", Inputs: []string{"x", "x"}, Outputs: []string{"y"}},
			{Name: "b", Op: "Slice", Inputs: []string{"y", "", "ghost"}, Outputs: []string{"z"}},
		},
	})
	for gi, g := range graphs {
		want := graph.NewIndex(g)
		got := newIndex(g)
		names := map[string]bool{"": true, "not a value": true}
		for _, v := range g.Inputs {
			names[v.Name] = true
		}
		for _, v := range g.Outputs {
			names[v.Name] = true
		}
		for _, in := range g.Initializers {
			names[in.Name] = true
		}
		for _, n := range g.Nodes {
			for _, v := range append(append([]string(nil), n.Inputs...), n.Outputs...) {
				names[v] = true
			}
			for _, sg := range n.Subgraphs {
				for _, v := range graph.FreeValues(sg) {
					names[v] = true
				}
			}
		}
		for v := range names {
			if got.Producer(v) != want.Producer(v) || got.Initializer(v) != want.Initializer(v) ||
				got.IsInput(v) != want.IsInput(v) || got.IsOutput(v) != want.IsOutput(v) || got.Uses(v) != want.Uses(v) {
				t.Fatalf("graph %d, value %q: index differs from graph.Index", gi, v)
			}
			gc, wc := got.Consumers(v), want.Consumers(v)
			if len(gc) != len(wc) {
				t.Fatalf("graph %d, value %q: %d consumers, want %d", gi, v, len(gc), len(wc))
			}
			for i := range gc {
				if gc[i] != wc[i] {
					t.Fatalf("graph %d, value %q: consumer %d is %s, want %s", gi, v, i, gc[i].Name, wc[i].Name)
				}
			}
		}
	}
}
