package gqacachefix_test

import (
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	gqacachefix "github.com/graphpass/graphpass/passes/gqa_cache_fix"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	nativeattention "github.com/graphpass/graphpass/passes/native_attention"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func TestGQACacheFix(t *testing.T) {
	tests := []struct {
		name         string
		opts         model.BuildOptions
		before       []*sdk.Pass
		want         int
		repeatsAfter int // RepeatInterleave nodes after the pass
	}{
		{"eager attention reads the repeated cache", model.BuildOptions{ExpandKVBeforeCache: true}, nil, 2, 4},
		{"SDPA reads the compact cache", model.BuildOptions{ExpandKVBeforeCache: true}, []*sdk.Pass{sdpa.Pass}, 2, 0},
		{"caches already hold kv heads", model.BuildOptions{}, nil, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testmodels.Fixture(t, "qwen3-tiny", tc.opts)
			in := g
			for _, p := range tc.before {
				in = passtest.Run(t, p, in, "").After
			}
			o := passtest.RunBoth(t, gqacachefix.Pass, "gqa_cache_fix.wasm.gz", in, "")
			if o.Rewrites() != tc.want {
				t.Fatalf("%d rewrites, want %d; notes %v", o.Rewrites(), tc.want, o.NoteMessages())
			}
			if n := o.After.OpCounts()["RepeatInterleave"]; n != tc.repeatsAfter {
				t.Errorf("%d RepeatInterleave nodes, want %d", n, tc.repeatsAfter)
			}
			for _, io := range append(append([]graph.ValueInfo{}, o.After.Inputs...), o.After.Outputs...) {
				if strings.HasPrefix(io.Name, "past_key_values.") || strings.HasPrefix(io.Name, "present.") {
					if h := io.Type.Shape[1]; h.Size != 2 {
						t.Errorf("%s has %s heads, want the 2 kv heads", io.Name, h)
					}
				}
			}
			passtest.EquivalentDecoding(t, g, o.After, 5, 2, 2e-5)
			// native_attention still applies to the fixed graph.
			if tc.want > 0 && len(tc.before) > 0 {
				na := passtest.Run(t, nativeattention.Pass, o.After, "")
				if na.Rewrites() != 2 {
					t.Errorf("native_attention after the fix: %d rewrites, notes %v", na.Rewrites(), na.NoteMessages())
				}
				passtest.EquivalentDecoding(t, g, na.After, 5, 2, 2e-5)
			}
		})
	}
}

// A layer whose value cache cannot change (its past input has another
// reader) keeps both caches as they are, with a note.
func TestGQACacheFixNeedsBothCaches(t *testing.T) {
	g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{ExpandKVBeforeCache: true})
	g.Nodes = append(g.Nodes, &graph.Node{Name: "peek", Op: "Identity", Inputs: []string{graph.PastValue(0)}, Outputs: []string{"peek"}})
	g.Outputs = append(g.Outputs, graph.ValueInfo{Name: "peek", Type: g.Input(graph.PastValue(0)).Type})
	o := passtest.RunBoth(t, gqacachefix.Pass, "gqa_cache_fix.wasm.gz", g, "")
	if o.Rewrites() != 1 || !o.HasNote("layer 0 expands heads before only one of its key and value caches") {
		t.Fatalf("%d rewrites, notes %v", o.Rewrites(), o.NoteMessages())
	}
	passtest.EquivalentDecoding(t, g, o.After, 5, 2, 2e-5)
}
