package attnweights_test

import (
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/model"
	attnweights "github.com/graphpass/graphpass/passes/attn_weights"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func TestAttnWeights(t *testing.T) {
	g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{AttentionOutputs: true})
	fused := passtest.Run(t, sdpa.Pass, g, "").After
	if n := fused.OpCounts()["Softmax"]; n != 2 {
		t.Fatalf("after sdpa %d Softmax nodes, want 2 (kept alive by attentions.*)", n)
	}
	o := passtest.RunBoth(t, attnweights.Pass, "attn_weights.wasm.gz", fused, "")
	if o.Rewrites() != 2 {
		t.Fatalf("%d rewrites, want 2", o.Rewrites())
	}
	for _, out := range o.After.Outputs {
		if strings.HasPrefix(out.Name, "attentions.") {
			t.Errorf("output %s left", out.Name)
		}
	}
	if c := o.After.OpCounts(); c["Softmax"] != 0 || c["SDPA"] != 2 {
		t.Errorf("ops after: %v", c)
	}
	passtest.Equivalent(t, g, o.After, passtest.DefaultDims, 2e-5)

	// Without attention outputs there is nothing to do.
	plain := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
	if o := passtest.RunBoth(t, attnweights.Pass, "attn_weights.wasm.gz", plain, ""); o.Rewrites() != 0 {
		t.Errorf("%d rewrites on a graph without attentions outputs", o.Rewrites())
	}
}
