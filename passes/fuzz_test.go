package passes_test

import (
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
)

// FuzzPasses feeds every built-in pass of this package arbitrary valid
// graphs (mutations of real decoder graphs in their ABI encoding): a pass
// may decline to rewrite, but must never panic or fail on a graph that
// verifies, and its patch must apply and verify.
func FuzzPasses(f *testing.F) {
	for _, name := range []string{"qwen3-tiny", "mistral-tiny", "gpt2-tiny"} {
		for _, opts := range []model.BuildOptions{{}, {MergedDecoder: true, AttentionOutputs: true, ExpandKVBeforeCache: true}} {
			f.Add(abi.EncodeGraph(testmodels.Shape(f, name, opts)))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := abi.DecodeGraph(data)
		if err != nil || graph.Verify(g) != nil {
			return
		}
		for _, b := range passes.All() {
			if b.Name == "quantize" {
				continue // helper quant's pass, fuzzed there
			}
			res, err := b.Pass.Run(g, nil, "")
			if err != nil {
				t.Fatalf("pass %s failed on a valid graph: %v", b.Name, err)
			}
			if _, err := graph.Apply(g, res.Patch); err != nil {
				t.Fatalf("pass %s: patch does not apply: %v", b.Name, err)
			}
		}
	})
}
