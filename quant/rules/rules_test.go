package rules

import (
	"sort"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

func fixtureGraph(t *testing.T, name string) *graph.Graph {
	t.Helper()
	ck, err := model.Open("../../testdata/fixtures/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func summary(ds []Decision) (quantized []string, dense map[string]string) {
	dense = map[string]string{}
	for _, d := range ds {
		if d.Quantize {
			quantized = append(quantized, d.Module)
		} else {
			dense[d.Module] = d.Reason
		}
	}
	sort.Strings(quantized)
	return quantized, dense
}

func TestCandidatesQwen3(t *testing.T) {
	cands := Candidates(fixtureGraph(t, "qwen3-tiny"))
	kinds := map[string]Kind{}
	for _, c := range cands {
		kinds[c.Module] = c.Kind
		if c.Transposed {
			t.Errorf("%s: transposed in a Llama-family graph", c.Name)
		}
	}
	if len(cands) != 15 {
		t.Fatalf("%d candidates, want 15 (7 linears × 2 layers + tied embedding): %v", len(cands), kinds)
	}
	if kinds["model.embed_tokens"] != Embedding {
		t.Errorf("embed_tokens kind %v, want embedding (also read by the tied lm_head)", kinds["model.embed_tokens"])
	}
	if kinds["model.layers.1.mlp.down_proj"] != Linear {
		t.Errorf("down_proj kind %v", kinds["model.layers.1.mlp.down_proj"])
	}
}

func TestDecideMLX(t *testing.T) {
	ds, err := Decide(Candidates(fixtureGraph(t, "qwen3-tiny")), Policy{Bits: 4, GroupSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	q, dense := summary(ds)
	if len(q) != 15 || len(dense) != 0 {
		t.Errorf("mlx rules on qwen3-tiny: quantized %v, dense %v; want all 15 (as the MLX fixture)", q, dense)
	}

	// llama-tiny has hidden 96: only down_proj (in 192) divides into 64.
	ds, _ = Decide(Candidates(fixtureGraph(t, "llama-tiny-llama3rope")), Policy{Bits: 4, GroupSize: 64})
	q, dense = summary(ds)
	if strings.Join(q, ",") != "model.layers.0.mlp.down_proj,model.layers.1.mlp.down_proj" {
		t.Errorf("quantized %v", q)
	}
	if r := dense["lm_head"]; !strings.Contains(r, "input dim 96 is not divisible by group size 64") {
		t.Errorf("lm_head reason %q", r)
	}
	ds, _ = Decide(Candidates(fixtureGraph(t, "llama-tiny-llama3rope")), Policy{Bits: 4, GroupSize: 32})
	if _, dense = summary(ds); len(dense) != 0 {
		t.Errorf("group 32 leaves %v dense", dense)
	}
}

func TestDecideGPT2Conv1D(t *testing.T) {
	cands := Candidates(fixtureGraph(t, "gpt2-tiny"))
	var conv, emb int
	for _, c := range cands {
		switch c.Kind {
		case Conv1D:
			conv++
			if !c.Transposed {
				t.Errorf("%s: Conv1D not marked transposed", c.Name)
			}
		case Embedding:
			emb++
		}
	}
	// 4 Conv1D per layer × 2 and the tied wte; wpe (indexed by
	// position_ids) is no candidate.
	if conv != 8 || emb != 1 || len(cands) != 9 {
		t.Errorf("%d candidates, %d Conv1D, %d embeddings; want 9, 8, 1", len(cands), conv, emb)
	}
	for _, c := range cands {
		if c.Module == "transformer.h.0.mlp.c_fc" && (c.Rows != 256 || c.Cols != 64) {
			t.Errorf("c_fc as [N, K] = [%d, %d], want [256, 64]", c.Rows, c.Cols)
		}
	}
	ds, _ := Decide(cands, Policy{Bits: 4, GroupSize: 64, Seed: true})
	for _, d := range ds {
		if d.Kind == Conv1D && d.Quantize {
			t.Errorf("seed rules quantized Conv1D %s", d.Name)
		}
	}
}

func TestDecideSeed(t *testing.T) {
	c := func(module string, kind Kind, rows, cols int64) Candidate {
		return Candidate{Name: module + ".weight", Module: module, Kind: kind, Rows: rows, Cols: cols, DType: graph.BF16}
	}
	cands := []Candidate{
		c("model.layers.0.mlp.up_proj", Linear, 3072, 1024),
		c("model.layers.0.self_attn.k_proj", Linear, 1024, 1024),
		c("small", Linear, 64, 1024),
		c("narrow", Linear, 1024, 64),
		c("odd", Linear, 1024, 96),
		c("lm_head", Linear, 151936, 1024),
		c("model.embed_tokens", Embedding, 151936, 1024),
		c("model.layers.0.mlp.down_proj", Linear, 1024, 3072),
	}
	for _, tc := range []struct {
		policy Policy
		want   string
	}{
		{Policy{Bits: 4, GroupSize: 64, Seed: true}, "model.layers.0.mlp.down_proj,model.layers.0.mlp.up_proj,model.layers.0.self_attn.k_proj"},
		{Policy{Bits: 4, GroupSize: 64, Seed: true, IncludeEmbeddings: true}, "lm_head,model.embed_tokens,model.layers.0.mlp.down_proj,model.layers.0.mlp.up_proj,model.layers.0.self_attn.k_proj"},
		{Policy{Bits: 4, GroupSize: 64, Seed: true, SkipRows: 2000}, "model.layers.0.mlp.down_proj,model.layers.0.self_attn.k_proj"},
		{Policy{Bits: 4, GroupSize: 64, Seed: true, Exclude: []string{`*.down_proj`}}, "model.layers.0.mlp.up_proj,model.layers.0.self_attn.k_proj"},
		{Policy{Bits: 4, GroupSize: 64}, "lm_head,model.embed_tokens,model.layers.0.mlp.down_proj,model.layers.0.mlp.up_proj,model.layers.0.self_attn.k_proj,narrow,small"},
	} {
		ds, err := Decide(cands, tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		q, dense := summary(ds)
		if got := strings.Join(q, ","); got != tc.want {
			t.Errorf("%+v: quantized %s, want %s (dense: %v)", tc.policy, got, tc.want, dense)
		}
	}
	ds, _ := Decide(cands, Policy{Bits: 4, GroupSize: 64, Seed: true})
	_, dense := summary(ds)
	for mod, want := range map[string]string{
		"small":              "both dims ≥ 2×group size (128): matrix is [64, 1024]",
		"odd":                "input dim 96 is not divisible by group size 64",
		"lm_head":            "vocabulary-sized matrices (151936 rows ≥ 100000)",
		"model.embed_tokens": "skip embedding tables",
	} {
		if !strings.Contains(dense[mod], want) {
			t.Errorf("%s: reason %q, want it to contain %q", mod, dense[mod], want)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	for _, p := range []Policy{{Bits: 7, GroupSize: 64}, {Bits: 4, GroupSize: 48}, {Bits: 4, GroupSize: 64, Exclude: []string{"["}}, {Bits: 4, GroupSize: 64, SkipRows: -1}} {
		if _, err := Decide(nil, p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}
