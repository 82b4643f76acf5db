package sdpa_test

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func noDropout(c *model.Config) { c.AttentionDropout, c.ResidDropout, c.EmbdDropout = 0, 0, 0 }

func TestSDPAOnModels(t *testing.T) {
	tests := []struct {
		name     string
		graph    func(t *testing.T) *graph.Graph
		want     int
		softmax  int    // Softmax nodes left
		note     string // expected in every note
		notes    int
		kvHeads  int64 // heads of SDPA's k (GQA stripped)
		division bool  // scale from a Div (GPT-2)
	}{
		{"qwen3 fixture (GQA 4/2)", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
		}, 2, 0, "", 0, 2, false},
		{"qwen3 with attention outputs", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{AttentionOutputs: true})
		}, 2, 2, "", 0, 2, false},
		{"qwen3 merged decoder", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{MergedDecoder: true})
		}, 2, 0, "", 0, 2, false},
		{"qwen3 GQA expanded before the cache", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{ExpandKVBeforeCache: true})
		}, 2, 0, "", 0, 4, false},
		{"llama3 fixture (GQA 6/2)", func(t *testing.T) *graph.Graph {
			return testmodels.Fixture(t, "llama-tiny-llama3rope", model.BuildOptions{})
		}, 2, 0, "", 0, 2, false},
		{"qwen2 (biases, GQA)", func(t *testing.T) *graph.Graph {
			return testmodels.Synthetic(t, "qwen2-tiny", model.BuildOptions{})
		}, 2, 0, "", 0, 2, false},
		{"gpt2 without dropout: Div scale", func(t *testing.T) *graph.Graph {
			return testmodels.SyntheticWith(t, "gpt2-tiny", "nodropout", noDropout, model.BuildOptions{})
		}, 2, 0, "", 0, 4, true},
		{"gpt2: attention dropout 0.1", func(t *testing.T) *graph.Graph {
			return testmodels.Synthetic(t, "gpt2-tiny", model.BuildOptions{})
		}, 0, 2, "attention dropout rate 0.1 > 0", 2, 0, false},
		{"mistral: sliding window", func(t *testing.T) *graph.Graph {
			return testmodels.Synthetic(t, "mistral-tiny", model.BuildOptions{})
		}, 0, 2, "sliding-window attention (window 4)", 2, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.graph(t)
			o := passtest.RunBoth(t, sdpa.Pass, "sdpa.wasm.gz", g, "")
			if o.Rewrites() != tc.want {
				t.Fatalf("%d rewrites, want %d; notes %v", o.Rewrites(), tc.want, o.NoteMessages())
			}
			if len(o.Response.Notes) != tc.notes {
				t.Errorf("notes %v, want %d", o.NoteMessages(), tc.notes)
			}
			for _, n := range o.Response.Notes {
				if tc.note == "" || !strings.Contains(n.Message, tc.note) {
					t.Errorf("note %q, want one containing %q", n.Message, tc.note)
				}
			}
			c := o.After.OpCounts()
			if c["SDPA"] != tc.want || c["Softmax"] != tc.softmax {
				t.Errorf("ops after: SDPA %d Softmax %d, want %d and %d", c["SDPA"], c["Softmax"], tc.want, tc.softmax)
			}
			types, _ := graph.Infer(o.After)
			for _, n := range o.After.Nodes {
				if n.Op != "SDPA" {
					continue
				}
				if n.Str("mask") != "causal" || n.Input(3) != graph.AttentionMask {
					t.Errorf("SDPA %s: mask %q key_mask %q", n.Name, n.Str("mask"), n.Input(3))
				}
				if h := types[n.Inputs[1]].Shape[1]; h.Size != tc.kvHeads {
					t.Errorf("SDPA k has %s heads, want %d", h, tc.kvHeads)
				}
				hd, _ := types[n.Inputs[0]].Shape[3].Size, 0
				want := 1 / math.Sqrt(float64(hd))
				if d := n.Float("scale") - want; d > 1e-7 || d < -1e-7 {
					t.Errorf("scale %g, want %g", n.Float("scale"), want)
				}
			}
			passtest.Equivalent(t, g, o.After, passtest.DefaultDims, 2e-5)
			passtest.Validate(t, g, o.Response.Patch, 0)
		})
	}
}
