package model

import (
	"fmt"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

func allOptions() []BuildOptions {
	var out []BuildOptions
	for m := 0; m < 16; m++ {
		out = append(out, BuildOptions{MergedDecoder: m&1 != 0, AttentionOutputs: m&2 != 0, HiddenStates: m&4 != 0, ExpandKVBeforeCache: m&8 != 0})
	}
	return out
}

// TestBuildEveryFamilyEveryOption builds each synthetic config under every
// BuildOptions combination and checks the graph verifies and has the
// declared interface and the op counts the options imply.
func TestBuildEveryFamilyEveryOption(t *testing.T) {
	for _, name := range SyntheticNames() {
		cfg, err := Synthetic(name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NumLayers > 4 { // the real-size configs are covered by TestBuildRealSizes
			continue
		}
		for _, opts := range allOptions() {
			t.Run(fmt.Sprintf("%s/%+v", name, opts), func(t *testing.T) {
				g, err := BuildGraph(cfg, opts)
				if err != nil {
					t.Fatal(err)
				}
				checkInterface(t, g, cfg, opts)
			})
		}
	}
}

func checkInterface(t *testing.T, g *graph.Graph, cfg *Config, opts BuildOptions) {
	t.Helper()
	if err := graph.Verify(g); err != nil {
		t.Fatal(err)
	}
	L := cfg.NumLayers
	wantIn := 3 + 2*L
	if opts.MergedDecoder {
		wantIn++
	}
	if len(g.Inputs) != wantIn {
		t.Errorf("%d inputs, want %d", len(g.Inputs), wantIn)
	}
	wantOut := 1 + 2*L
	if opts.AttentionOutputs {
		wantOut += L
	}
	if opts.HiddenStates {
		wantOut += L + 1
	}
	if len(g.Outputs) != wantOut {
		t.Errorf("%d outputs, want %d", len(g.Outputs), wantOut)
	}
	kv := cfg.NumKVHeads
	if opts.ExpandKVBeforeCache {
		kv = cfg.NumHeads
	}
	pk := g.Input(graph.PastKey(L - 1))
	if pk == nil || !pk.Type.Shape[1].Equal(graph.D(int64(kv))) {
		t.Errorf("past key %+v, want %d heads", pk, kv)
	}
	for _, name := range []string{graph.InputIDs, graph.AttentionMask, graph.PositionIDs} {
		if g.Input(name) == nil {
			t.Errorf("no input %s", name)
		}
	}
	ops := g.OpCounts()
	rep := cfg.NumHeads / cfg.NumKVHeads
	wantRepeat := 0
	if rep > 1 {
		wantRepeat = 2 * L
	}
	if ops["RepeatInterleave"] != wantRepeat {
		t.Errorf("%d RepeatInterleave, want %d", ops["RepeatInterleave"], wantRepeat)
	}
	wantIf := 0
	if opts.MergedDecoder {
		wantIf = 2 * L
	}
	if ops["If"] != wantIf {
		t.Errorf("%d If, want %d", ops["If"], wantIf)
	}
	wantDropout := L // attention probabilities
	if cfg.Family == GPT2 {
		wantDropout = 1 + 3*L // + embeddings, attention and MLP residual branches
	}
	if ops["Dropout"] != wantDropout {
		t.Errorf("%d Dropout, want %d", ops["Dropout"], wantDropout)
	}
	windows := map[int]bool{}
	for i := 0; i < L; i++ {
		windows[cfg.SlidingWindowOf(i)] = true
	}
	if ops["AttentionMask"] != len(windows) {
		t.Errorf("%d AttentionMask nodes, want one per window %v", ops["AttentionMask"], windows)
	}
	if ops["Softmax"] != L {
		t.Errorf("%d Softmax, want %d", ops["Softmax"], L)
	}
	for _, k := range []string{graph.MetaArchitecture, graph.MetaNumLayers, graph.MetaNumHeads, graph.MetaNumKVHeads,
		graph.MetaHeadDim, graph.MetaHiddenSize, graph.MetaVocabSize, MetaKVCacheHeads} {
		if g.Metadata[k] == "" {
			t.Errorf("metadata %q missing", k)
		}
	}
	if g.Metadata[MetaKVCacheHeads] != fmt.Sprint(kv) {
		t.Errorf("metadata kv_cache_heads %q, want %d", g.Metadata[MetaKVCacheHeads], kv)
	}
}

// TestBuildRealSizes builds the real-size configs (shape-only) and checks
// their parameter counts against the published figures.
func TestBuildRealSizes(t *testing.T) {
	// Published sizes: the Qwen3-0.6B model card (0.6B parameters, 0.44B
	// non-embedding, to two digits), Llama 3.2 1B (1,235,814,400) and
	// GPT-2 small (124,439,808).
	tests := []struct {
		name          string
		params        int64
		nonEmbedding  int64 // to 0.01B
		quantizedMats int
	}{
		{"qwen3-0.6b", 0, 440_000_000, 0},
		{"qwen3-0.6b-4bit", 0, 440_000_000, 28*7 + 1},
		{"llama-3.2-1b", 1_235_814_400, 0, 0},
		{"gpt2", 124_439_808, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Synthetic(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.NumParams(); tc.params != 0 && got != tc.params {
				t.Errorf("%d parameters, want %d", got, tc.params)
			}
			if tc.nonEmbedding != 0 {
				got := cfg.NumParams() - int64(cfg.VocabSize*cfg.HiddenSize)
				if got < tc.nonEmbedding-5_000_000 || got >= tc.nonEmbedding+5_000_000 {
					t.Errorf("%d non-embedding parameters, want %.2fB", got, float64(tc.nonEmbedding)/1e9)
				}
				if total := cfg.NumParams(); total < 595_000_000 || total >= 605_000_000 {
					t.Errorf("%d parameters, want 0.60B", total)
				}
			}
			g, err := BuildGraph(cfg, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkInterface(t, g, cfg, BuildOptions{})
			if got := g.OpCounts()["QuantizedMatMul"]; got != tc.quantizedMats {
				t.Errorf("%d QuantizedMatMul, want %d", got, tc.quantizedMats)
			}
			for _, in := range g.Initializers {
				if in.Ref != nil || (in.Data != nil && in.Type.ByteSize() > graph.InlineLimit) {
					t.Errorf("shape-only graph has data for %q", in.Name)
				}
			}
		})
	}
}

// nodesByOp returns g's top-level nodes of op, in order.
func nodesByOp(g *graph.Graph, op string) []*graph.Node {
	var out []*graph.Node
	for _, n := range g.Nodes {
		if n.Op == op {
			out = append(out, n)
		}
	}
	return out
}

func producer(g *graph.Graph, v string) *graph.Node {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == v {
				return n
			}
		}
	}
	return nil
}

// TestForms checks the primitive forms of docs/graph-forms.md that passes match.
func TestForms(t *testing.T) {
	t.Run("rmsnorm", func(t *testing.T) {
		g := mustBuild(t, "qwen3-tiny", BuildOptions{})
		out := producer(g, "model.layers.0.input_layernorm/Mul_1_out")
		if out == nil || out.Op != "Mul" || out.Inputs[0] != "model.layers.0.input_layernorm.weight" {
			t.Fatalf("norm output %+v", out)
		}
		chain := []string{"Mul", "Rsqrt", "Add", "ReduceMean", "Pow"}
		n := producer(g, out.Inputs[1])
		for _, op := range chain {
			if n == nil || n.Op != op {
				t.Fatalf("want %s in the RMSNorm chain, got %+v", op, n)
			}
			if op == "Mul" {
				n = producer(g, n.Inputs[1])
			} else {
				n = producer(g, n.Inputs[0])
			}
		}
		eps := g.Initializer(producer(g, "model.layers.0.input_layernorm/Add_out").Inputs[1])
		if eps == nil || eps.Type.Shape.Rank() != 0 || len(eps.Data) != 4 {
			t.Errorf("eps is not a rank-0 inline f32: %+v", eps)
		}
	})
	t.Run("linear and tied head", func(t *testing.T) {
		g := mustBuild(t, "qwen3-tiny", BuildOptions{})
		head := producer(g, graph.Logits)
		if head.Op != "MatMul" || head.Int("transpose_b") != 1 || head.Inputs[1] != "model.embed_tokens.weight" {
			t.Errorf("tied LM head %+v", head)
		}
		if g.Initializer("lm_head.weight") != nil {
			t.Error("tied model has an lm_head initializer")
		}
	})
	t.Run("gpt2 conv1d", func(t *testing.T) {
		g := mustBuild(t, "gpt2-tiny", BuildOptions{})
		n := producer(g, "transformer.h.0.attn.c_attn/MatMul_out")
		if n == nil || n.Int("transpose_b") != 0 {
			t.Fatalf("Conv1D MatMul %+v", n)
		}
		gelu := nodesByOp(g, "Gelu")
		if len(gelu) != 2 || gelu[0].Str("approximate") != "tanh" {
			t.Errorf("gelu %+v", gelu)
		}
		for _, d := range nodesByOp(g, "Dropout") {
			if d.Float("rate") != 0.1 {
				t.Errorf("dropout %s rate %g", d.Name, d.Float("rate"))
			}
		}
		if len(nodesByOp(g, "LayerNorm")) != 0 || len(nodesByOp(g, "Sqrt")) != 5 {
			t.Errorf("LayerNorm must be primitive (Sqrt count %d)", len(nodesByOp(g, "Sqrt")))
		}
	})
	t.Run("sliding window mask", func(t *testing.T) {
		g := mustBuild(t, "mistral-tiny", BuildOptions{})
		m := nodesByOp(g, "AttentionMask")
		if len(m) != 1 || m[0].Int("sliding_window") != 4 || m[0].Int("causal") != 1 {
			t.Errorf("masks %+v", m)
		}
	})
	t.Run("gqa expanded before cache", func(t *testing.T) {
		g := mustBuild(t, "qwen3-tiny", BuildOptions{ExpandKVBeforeCache: true})
		present := producer(g, graph.PresentKey(0))
		if present.Op != "Concat" {
			t.Fatalf("present %+v", present)
		}
		if r := producer(g, present.Inputs[1]); r == nil || r.Op != "RepeatInterleave" || r.Int("repeats") != 2 || r.Int("axis") != 1 {
			t.Errorf("new keys not expanded before the cache concat: %+v", r)
		}
	})
	t.Run("merged decoder", func(t *testing.T) {
		g := mustBuild(t, "qwen3-tiny", BuildOptions{MergedDecoder: true})
		n := producer(g, graph.PresentValue(1))
		if n.Op != "If" || n.Inputs[0] != graph.UseCacheBranch {
			t.Fatalf("present %+v", n)
		}
		then, els := n.Subgraphs["then_branch"], n.Subgraphs["else_branch"]
		if then.Nodes[0].Op != "Concat" || then.Nodes[0].Inputs[0] != graph.PastValue(1) || els.Nodes[0].Op != "Identity" {
			t.Errorf("branches %+v / %+v", then.Nodes[0], els.Nodes[0])
		}
	})
	t.Run("attention outputs", func(t *testing.T) {
		g := mustBuild(t, "llama-tiny", BuildOptions{AttentionOutputs: true})
		if n := producer(g, graph.Attentions(0)); n == nil || n.Op != "Softmax" {
			t.Errorf("attentions.0 from %+v", n)
		}
	})
	t.Run("quantized", func(t *testing.T) {
		g := mustBuild(t, "qwen3-tiny-4bit", BuildOptions{})
		qg := nodesByOp(g, "QuantizedGather")
		if len(qg) != 1 || qg[0].Str("dtype") != "f32" || qg[0].Int("bits") != 4 || qg[0].Int("group_size") != 64 {
			t.Errorf("quantized embedding %+v", qg)
		}
		head := producer(g, graph.Logits)
		if head.Op != "QuantizedMatMul" || head.Inputs[1] != "model.embed_tokens.weight" || head.Inputs[2] != "model.embed_tokens.scales" {
			t.Errorf("tied quantized head %+v", head)
		}
		if len(nodesByOp(g, "MatMul")) != 4 { // the attention products only
			t.Errorf("%d dense MatMul", len(nodesByOp(g, "MatMul")))
		}
	})
}

func mustBuild(t *testing.T, name string, opts BuildOptions) *graph.Graph {
	t.Helper()
	cfg, err := Synthetic(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func BenchmarkBuildQwen3_0_6B(b *testing.B) {
	cfg, _ := Synthetic("qwen3-0.6b")
	for i := 0; i < b.N; i++ {
		if _, err := BuildGraph(cfg, BuildOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenAndBuildBundled(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ck, err := Open("../models/kjv-fortunes-7m")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ck.Graph(BuildOptions{}); err != nil {
			b.Fatal(err)
		}
		ck.Close()
	}
}
