package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

func TestSyntheticRoundTrip(t *testing.T) {
	for _, name := range model.SyntheticNames() {
		cfg, err := model.Synthetic(name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NumParams() > 50_000_000 {
			continue // real sizes: too slow to write in a unit test
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := model.WriteSynthetic(dir, cfg, 42); err != nil {
				t.Fatal(err)
			}
			ck, err := model.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			got := *ck.Config
			want := *cfg
			if !reflect.DeepEqual(normalized(&got), normalized(&want)) {
				t.Errorf("config after round trip:\n got %+v\nwant %+v", normalized(&got), normalized(&want))
			}
			g, err := ck.Graph(model.BuildOptions{HiddenStates: true})
			if err != nil {
				t.Fatal(err)
			}
			shapeOnly, err := model.BuildGraph(cfg, model.BuildOptions{HiddenStates: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Nodes) != len(shapeOnly.Nodes) || len(g.Initializers) != len(shapeOnly.Initializers) {
				t.Errorf("checkpoint graph (%d nodes) differs from the config-only graph (%d)", len(g.Nodes), len(shapeOnly.Nodes))
			}
			for i, in := range g.Initializers {
				if o := shapeOnly.Initializers[i]; o.Name != in.Name || !o.Type.Equal(in.Type) {
					t.Errorf("initializer %d: %s %s vs config-only %s %s", i, in.Name, in.Type, o.Name, o.Type)
				}
			}
			// The random model runs and gives finite logits that depend on the input.
			r := newRunner(t, ck, model.BuildOptions{})
			r.start(1)
			a := r.step(t, [][]int64{{1, 2, 3}}, [][]int64{{1, 1, 1}}, [][]int64{{0, 1, 2}})
			r.start(1)
			b := r.step(t, [][]int64{{4, 5, 6}}, [][]int64{{1, 1, 1}}, [][]int64{{0, 1, 2}})
			for _, v := range a.F32() {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatal("non-finite logits")
				}
			}
			if reflect.DeepEqual(a.F32(), b.F32()) {
				t.Error("logits do not depend on the input")
			}
		})
	}
}

// normalized drops what a config.json round trip legitimately changes.
func normalized(c *model.Config) model.Config {
	n := *c
	n.LayerTypes = nil
	if n.Quantization != nil && len(n.Quantization.Modules) == 0 {
		q := *n.Quantization
		q.Modules = nil
		n.Quantization = &q
	}
	return n
}

func TestWriteSyntheticDeterministic(t *testing.T) {
	cfg, _ := model.Synthetic("gpt2-tiny")
	read := func(seed uint64) []byte {
		dir := t.TempDir()
		if err := model.WriteSynthetic(dir, cfg, seed); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := read(1), read(1), read(2)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different bytes")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same bytes")
	}
}

func TestSyntheticUnknown(t *testing.T) {
	if _, err := model.Synthetic("gpt5"); err == nil || !strings.Contains(err.Error(), "qwen3-0.6b") {
		t.Errorf("err = %v", err)
	}
}

func TestMarshalConfigRoundTrip(t *testing.T) {
	for _, fx := range []string{"qwen3-tiny", "llama-tiny-llama3rope", "gpt2-tiny", "mistral-tiny-swa", "qwen2-tiny", "llama-tiny-mha", "qwen3-tiny-mlx4bit"} {
		c, err := model.LoadConfig("../testdata/fixtures/" + fx)
		if err != nil {
			t.Fatal(err)
		}
		data, err := model.MarshalConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := model.ParseConfig(data, model.LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v\n%s", fx, err, data)
		}
		// generation_config.json is not part of config.json.
		back.EOSTokenIDs, back.BOSTokenID, back.PadTokenID = c.EOSTokenIDs, c.BOSTokenID, c.PadTokenID
		if !reflect.DeepEqual(normalized(back), normalized(c)) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", fx, normalized(back), normalized(c))
		}
	}
}

func TestSyntheticQuantizedIsMLX(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := model.Synthetic("qwen3-tiny-4bit")
	if err := model.WriteSynthetic(dir, cfg, 3); err != nil {
		t.Fatal(err)
	}
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	ti, _, ok := ck.Tensor("model.layers.0.mlp.down_proj.weight")
	if !ok || ti.DType != graph.U32 || ti.Shape[1] != 128*4/32 {
		t.Errorf("packed down_proj %+v", ti)
	}
	if _, _, ok := ck.Tensor("model.embed_tokens.scales"); !ok {
		t.Error("embedding not quantized")
	}
	if ck.Files[0].Header.Metadata["format"] != "mlx" {
		t.Errorf("metadata %v", ck.Files[0].Header.Metadata)
	}
}

// TestMixedQuantization writes an MLX checkpoint with per-module overrides
// (8-bit down_proj, a 32-wide group, a dense embedding) and checks the graph
// follows them and runs.
func TestMixedQuantization(t *testing.T) {
	cfg, _ := model.Synthetic("qwen3-tiny")
	cfg.Quantization = &model.Quantization{Bits: 4, GroupSize: 64, Modules: map[string]*model.QuantParams{
		"model.layers.0.mlp.down_proj":    {Bits: 8, GroupSize: 64},
		"model.layers.1.self_attn.q_proj": {Bits: 3, GroupSize: 32},
		"model.embed_tokens":              nil,
	}}
	dir := t.TempDir()
	if err := model.WriteSynthetic(dir, cfg, 5); err != nil {
		t.Fatal(err)
	}
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bits := map[string][2]int64{}
	for _, n := range g.Nodes {
		if n.Op == "QuantizedMatMul" {
			bits[n.Inputs[1]] = [2]int64{n.Int("bits"), n.Int("group_size")}
		}
	}
	for w, want := range map[string][2]int64{
		"model.layers.0.mlp.down_proj.weight":    {8, 64},
		"model.layers.1.self_attn.q_proj.weight": {3, 32},
		"model.layers.1.mlp.down_proj.weight":    {4, 64},
	} {
		if bits[w] != want {
			t.Errorf("%s: bits/group %v, want %v", w, bits[w], want)
		}
	}
	// The embedding stays dense, so the tied head is a plain MatMul.
	if _, ok := bits["model.embed_tokens.weight"]; ok || g.OpCounts()["Gather"] != 1 {
		t.Errorf("embedding quantized against the config (ops %v)", g.OpCounts())
	}
	r := newRunner(t, ck, model.BuildOptions{})
	r.start(1)
	logits := r.step(t, [][]int64{{3, 1, 4, 1, 5}}, [][]int64{{1, 1, 1, 1, 1}}, [][]int64{{0, 1, 2, 3, 4}})
	for _, v := range logits.F32() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite logits")
		}
	}
}
