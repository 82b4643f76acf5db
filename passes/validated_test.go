package passes_test

import (
	"context"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/sdk/passtest"
	"github.com/graphpass/graphpass/validate"
)

// TestDefaultPipelineValidated runs the default pipeline the way the CLI
// does (the embedded modules in the host, one after the other) with
// translation validation of every rewrite (package validate: each
// replacement evaluated against the values it replaces; stateful rewrites
// as decoder sessions).
func TestDefaultPipelineValidated(t *testing.T) {
	ctx := context.Background()
	names, _ := passes.Expand(append([]string{"gqa_cache_fix"}, passes.DefaultOrder...))
	var steps []host.Step
	for _, n := range names {
		b, _ := passes.Lookup(n)
		p, err := passtest.ModuleBytes("builtin:"+n, b.Wasm)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, host.Step{Pass: p})
	}
	for _, tc := range []struct {
		name string
		g    func(t *testing.T) *graph.Graph
	}{
		{"qwen3, every optional shape", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{MergedDecoder: true, AttentionOutputs: true, HiddenStates: true, ExpandKVBeforeCache: true})
		}},
		{"llama3 rope", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "llama-tiny-llama3rope", model.BuildOptions{})
		}},
		{"mistral", func(t *testing.T) *graph.Graph { return testmodels.Synthetic(t, "mistral-tiny", model.BuildOptions{}) }},
		{"gpt2", func(t *testing.T) *graph.Graph { return testmodels.Synthetic(t, "gpt2-tiny", model.BuildOptions{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			val := validate.New(validate.Options{})
			defer val.Close()
			r := &host.Runner{Validator: val}
			g := tc.g(t)
			out, reports, err := r.Run(ctx, g, steps)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, rep := range reports {
				total += rep.Matches
				t.Logf("%-20s %3d rewrites validated, %d notes, %d → %d nodes", rep.Pass, rep.Matches, len(rep.Notes), rep.NodesBefore, rep.NodesAfter)
			}
			if total == 0 {
				t.Fatal("nothing rewritten")
			}
			passtest.EquivalentDecoding(t, g, out, 5, 3, 1e-4)
		})
	}
}
