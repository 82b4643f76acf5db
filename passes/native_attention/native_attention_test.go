package nativeattention_test

import (
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	ifpresent "github.com/graphpass/graphpass/passes/if_present"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	nativeattention "github.com/graphpass/graphpass/passes/native_attention"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func TestNativeAttention(t *testing.T) {
	tests := []struct {
		name   string
		graph  func(t *testing.T) *graph.Graph
		before []*sdk.Pass // passes run first
		want   int
		note   string
		kv     int64 // heads of KVCacheAttention's new keys
	}{
		{"after sdpa, qwen3 (GQA)", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
		}, []*sdk.Pass{sdpa.Pass}, 2, "", 2},
		{"eager form, qwen3", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
		}, nil, 2, "", 2},
		{"after sdpa, llama3 fixture", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "llama-tiny-llama3rope", model.BuildOptions{})
		}, []*sdk.Pass{sdpa.Pass}, 2, "", 2},
		{"GQA expanded before the cache", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{ExpandKVBeforeCache: true})
		}, []*sdk.Pass{sdpa.Pass}, 2, "", 2},
		{"merged decoder after if_present", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{MergedDecoder: true})
		}, []*sdk.Pass{ifpresent.Pass, sdpa.Pass}, 2, "", 2},
		{"merged decoder without if_present", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{MergedDecoder: true})
		}, []*sdk.Pass{sdpa.Pass}, 0, "run if_present first", 0},
		{"attention outputs still there", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{AttentionOutputs: true})
		}, []*sdk.Pass{sdpa.Pass}, 0, "run attn_weights first", 0},
		{"mistral: sliding window falls back", func(t *testing.T) *graph.Graph {
			return testmodels.Synthetic(t, "mistral-tiny", model.BuildOptions{})
		}, []*sdk.Pass{sdpa.Pass}, 0, "sliding-window attention (window 4) falls back", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.graph(t)
			in := g
			for _, p := range tc.before {
				in = passtest.Run(t, p, in, "").After
			}
			o := passtest.RunBoth(t, nativeattention.Pass, "native_attention.wasm.gz", in, "")
			o.Expect(t, tc.want, tc.note)
			if tc.want > 0 {
				for _, v := range o.After.Inputs {
					if strings.HasPrefix(v.Name, "past_key_values.") {
						t.Errorf("input %s left", v.Name)
					}
				}
				for _, v := range o.After.Outputs {
					if strings.HasPrefix(v.Name, "present.") {
						t.Errorf("output %s left", v.Name)
					}
				}
				types, _ := graph.Infer(o.After)
				layers := map[int64]bool{}
				for _, n := range o.After.Nodes {
					if n.Op == "KVCacheAttention" {
						layers[n.Int("layer")] = true
						if h := types[n.Inputs[1]].Shape[1].Size; h != tc.kv {
							t.Errorf("%s: new keys have %d heads, want %d", n.Name, h, tc.kv)
						}
						if n.Input(3) != graph.AttentionMask {
							t.Errorf("%s: key mask %q", n.Name, n.Input(3))
						}
					}
				}
				if len(layers) != tc.want {
					t.Errorf("layers %v", layers)
				}
				if c := o.After.OpCounts(); c["Concat"] > 0 && c["RepeatInterleave"] > 0 {
					t.Errorf("cache plumbing left: %v", c)
				}
			}
			passtest.EquivalentDecoding(t, g, o.After, 5, 3, 2e-5)
		})
	}
}
