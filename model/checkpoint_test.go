package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/weights"
)

// copyDir copies a fixture checkpoint into a temporary directory to damage.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func editConfig(t *testing.T, dir string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteTensors rewrites dir/model.safetensors through edit, which may drop
// or change entries.
func rewriteTensors(t *testing.T, dir string, edit func(entries []weights.Entry) []weights.Entry) {
	t.Helper()
	p := filepath.Join(dir, "model.safetensors")
	s := weights.NewStore()
	f, err := s.OpenSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	var entries []weights.Entry
	for _, ti := range f.Header.Tensors {
		b, _ := f.Bytes(ti.Name)
		entries = append(entries, weights.Entry{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: bytes.Clone(b)})
	}
	meta := f.Header.Metadata
	s.Close()
	if err := weights.WriteFile(p, edit(entries), meta); err != nil {
		t.Fatal(err)
	}
}

func dropTensor(names ...string) func([]weights.Entry) []weights.Entry {
	return func(es []weights.Entry) []weights.Entry {
		var out []weights.Entry
	next:
		for _, e := range es {
			for _, n := range names {
				if e.Name == n {
					continue next
				}
			}
			out = append(out, e)
		}
		return out
	}
}

func TestOpenBadInput(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		damage  func(t *testing.T, dir string)
		want    []string // fragments the one error must contain
	}{
		{"truncated safetensors", "qwen3-tiny", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, []string{"model.safetensors", "outside the", "truncated file?"}},
		{"header length beyond file", "qwen3-tiny", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:100], 0o644)
		}, []string{"model.safetensors", "header length 2488 exceeds the 92 bytes"}},
		{"missing tensor", "qwen3-tiny", func(t *testing.T, dir string) {
			rewriteTensors(t, dir, dropTensor("model.layers.1.mlp.up_proj.weight"))
		}, []string{`missing tensor "model.layers.1.mlp.up_proj.weight"`, dirMarker}},
		{"shape disagrees with config", "qwen3-tiny", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["intermediate_size"] = 96 })
		}, []string{"6 problems", `tensor "model.layers.0.mlp.down_proj.weight" has shape [64 128], but config.json implies [64 96]`,
			`"model.layers.1.mlp.gate_proj.weight"`}},
		{"missing config field", "qwen3-tiny", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { delete(m, "num_attention_heads") })
		}, []string{"config.json", `missing config field "num_attention_heads"`}},
		{"config not json", "qwen3-tiny", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "config.json"), []byte("<html>"), 0o644)
		}, []string{"config.json", "not a JSON object"}},
		{"no config", "qwen3-tiny", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.json"))
		}, []string{"config.json", "no such file"}},
		{"unsupported architecture", "qwen3-tiny", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["architectures"] = []string{"Qwen3MoeForCausalLM"} })
		}, []string{`unsupported architecture "Qwen3MoeForCausalLM"`}},
		{"unsupported rope", "llama-tiny-llama3rope", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["rope_parameters"].(map[string]any)["rope_type"] = "yarn" })
		}, []string{`rope_type "yarn"`}},
		{"no weights", "qwen3-tiny", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, []string{"has no model.safetensors or model.safetensors.index.json"}},
		{"weight of wrong dtype", "qwen3-tiny", func(t *testing.T, dir string) {
			rewriteTensors(t, dir, func(es []weights.Entry) []weights.Entry {
				for i := range es {
					if es[i].Name == "model.norm.weight" {
						es[i].DType, es[i].Data = graph.U8, es[i].Data[:64]
					}
				}
				return es
			})
		}, []string{`tensor "model.norm.weight" has dtype u8`}},
		// MLX quantized checkpoints.
		{"wrong bits for packed width", "qwen3-tiny-mlx4bit", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { m["quantization"] = map[string]any{"bits": 8, "group_size": 64} })
		}, []string{"15 problems", `tensor "model.layers.0.mlp.down_proj.weight" has 16 packed words per row, but 128 values at 8 bits need 32`,
			`"model.embed_tokens.weight"`}},
		{"missing scales", "qwen3-tiny-mlx4bit", func(t *testing.T, dir string) {
			rewriteTensors(t, dir, dropTensor("model.layers.0.mlp.up_proj.scales", "model.layers.1.self_attn.q_proj.biases"))
		}, []string{"2 problems", `missing tensor "model.layers.0.mlp.up_proj.scales" of quantized module "model.layers.0.mlp.up_proj"`,
			`missing tensor "model.layers.1.self_attn.q_proj.biases"`}},
		{"group size does not divide", "qwen3-tiny-mlx4bit", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) {
				m["quantization"] = map[string]any{"bits": 4, "group_size": 64, "model.layers.0.self_attn.k_proj": map[string]any{"group_size": 128}}
			})
		}, []string{`module "model.layers.0.self_attn.k_proj": group_size 128 does not divide its input dim 64`}},
		{"quantized without config", "qwen3-tiny-mlx4bit", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) { delete(m, "quantization"); delete(m, "quantization_config") })
		}, []string{`module "model.embed_tokens" is stored quantized`, `has no "quantization"`}},
		{"quantized but excluded", "qwen3-tiny-mlx4bit", func(t *testing.T, dir string) {
			editConfig(t, dir, func(m map[string]any) {
				m["quantization"] = map[string]any{"bits": 4, "group_size": 64, "model.layers.1.mlp.down_proj": false}
			})
		}, []string{`module "model.layers.1.mlp.down_proj" is stored quantized but config.json's quantization excludes it`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, "../testdata/fixtures/"+tc.fixture)
			tc.damage(t, dir)
			err := openAndBuild(dir)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if w == dirMarker {
					w = dir
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

const dirMarker = "<dir>"

func openAndBuild(dir string) error {
	ck, err := model.Open(dir)
	if err != nil {
		return err
	}
	defer ck.Close()
	_, err = ck.Graph(model.BuildOptions{})
	return err
}

func TestOpenUnsupportedIsSentinel(t *testing.T) {
	dir := copyDir(t, "../testdata/fixtures/qwen3-tiny")
	editConfig(t, dir, func(m map[string]any) { m["architectures"] = []string{"PhiForCausalLM"} })
	if _, err := model.Open(dir); !errors.Is(err, model.ErrUnsupported) {
		t.Errorf("err = %v, want model.ErrUnsupported", err)
	}
}

func TestCheckpointGraphRefs(t *testing.T) {
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-mlx4bit", "llama-tiny-llama3rope", "gpt2-tiny"} {
		t.Run(fx, func(t *testing.T) {
			ck, err := model.Open("../testdata/fixtures/" + fx)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			g, err := ck.Graph(model.BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if g.Metadata[graph.MetaModelDir] != ck.Dir || !filepath.IsAbs(ck.Dir) {
				t.Errorf("model_dir %q", g.Metadata[graph.MetaModelDir])
			}
			var refBytes int64
			for _, in := range g.Initializers {
				if in.Ref == nil {
					if in.Data == nil || len(in.Data) > graph.InlineLimit {
						t.Errorf("initializer %q has neither a ref nor small inline data", in.Name)
					}
					continue
				}
				refBytes += in.Ref.Length
				b, err := ck.Store.Bytes(in)
				if err != nil {
					t.Fatal(err)
				}
				want, err := ck.Bytes(in.Name)
				if err != nil || !bytes.Equal(b, want) {
					t.Errorf("%s: bytes through the store differ from the checkpoint's (%v)", in.Name, err)
				}
			}
			// Every stored tensor is used (once, even when tied).
			if refBytes != ck.WeightBytes() {
				t.Errorf("graph refers to %d bytes, checkpoint holds %d", refBytes, ck.WeightBytes())
			}
		})
	}
}

func TestShardedCheckpoint(t *testing.T) {
	single := t.TempDir()
	cfg, _ := model.Synthetic("qwen2-tiny")
	if err := model.WriteSynthetic(single, cfg, 7); err != nil {
		t.Fatal(err)
	}
	sharded := copyDir(t, single)
	os.Remove(filepath.Join(sharded, "model.safetensors"))
	s := weights.NewStore()
	defer s.Close()
	f, err := s.OpenSafetensors(filepath.Join(single, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var shards [2][]weights.Entry
	index := map[string]string{}
	for i, ti := range f.Header.Tensors {
		b, _ := f.Bytes(ti.Name)
		k := i % 2
		shards[k] = append(shards[k], weights.Entry{Name: ti.Name, DType: ti.DType, Shape: ti.Shape, Data: b})
		index[ti.Name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[k]
	}
	for k, name := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if err := weights.WriteFile(filepath.Join(sharded, name), shards[k], map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	writeIndex := func(m map[string]string) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": m})
		os.WriteFile(filepath.Join(sharded, "model.safetensors.index.json"), b, 0o644)
	}
	writeIndex(index)

	build := func(dir string) (*graph.Graph, *model.Checkpoint) {
		ck, err := model.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ck.Close() })
		g, err := ck.Graph(model.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return g, ck
	}
	g1, ck1 := build(single)
	g2, ck2 := build(sharded)
	if len(ck2.Files) != 2 {
		t.Errorf("%d files mapped", len(ck2.Files))
	}
	if len(g1.Initializers) != len(g2.Initializers) || len(g1.Nodes) != len(g2.Nodes) {
		t.Fatal("sharded graph differs")
	}
	for i, a := range g1.Initializers {
		b := g2.Initializers[i]
		if a.Name != b.Name || !a.Type.Equal(b.Type) {
			t.Fatalf("initializer %d: %s %s vs %s %s", i, a.Name, a.Type, b.Name, b.Type)
		}
		x, _ := ck1.Store.Bytes(a)
		y, _ := ck2.Store.Bytes(b)
		if !bytes.Equal(x, y) {
			t.Errorf("%s: bytes differ between single and sharded", a.Name)
		}
	}

	// An index that points a tensor at the wrong shard.
	index["model.norm.weight"] = map[string]string{
		"model-00001-of-00002.safetensors": "model-00002-of-00002.safetensors",
		"model-00002-of-00002.safetensors": "model-00001-of-00002.safetensors",
	}[index["model.norm.weight"]]
	writeIndex(index)
	if _, err := model.Open(sharded); err == nil || !strings.Contains(err.Error(), `index lists tensor "model.norm.weight"`) {
		t.Errorf("wrong shard: %v", err)
	}
	index["model.norm.weight"] = "../escape.safetensors"
	writeIndex(index)
	if _, err := model.Open(sharded); err == nil || !strings.Contains(err.Error(), "not a file in the checkpoint directory") {
		t.Errorf("escaping index: %v", err)
	}
}

// TestOpenDoesNotReadWeightsIntoHeap writes a ~40 MB checkpoint, opens it,
// builds its graph and reads every weight byte through the store: the Go
// heap grows by a small fraction of that (weights are memory-mapped).
func TestOpenDoesNotReadWeightsIntoHeap(t *testing.T) {
	if !weights.MmapSupported() {
		t.Skip("no mmap on this platform")
	}
	cfg, _ := model.Synthetic("qwen3-tiny")
	cfg.HiddenSize, cfg.IntermediateSize, cfg.NumLayers, cfg.VocabSize, cfg.HeadDim = 512, 1536, 4, 8192, 64
	cfg.NumHeads, cfg.NumKVHeads = 8, 4
	cfg.LayerTypes = nil
	dir := t.TempDir()
	if err := model.WriteSynthetic(dir, cfg, 1); err != nil {
		t.Fatal(err)
	}
	before := heapAlloc()
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, in := range g.Initializers {
		b, err := ck.Store.Bytes(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b {
			sum += uint64(v)
		}
	}
	after := heapAlloc()
	runtime.KeepAlive(g)
	total := ck.WeightBytes()
	growth := int64(after) - int64(before)
	t.Logf("checkpoint %.1f MB, mapped %.1f MB, heap growth %.2f MB (checksum %d)", float64(total)/1e6, float64(ck.Store.MappedBytes())/1e6, float64(growth)/1e6, sum)
	if total < 30e6 {
		t.Fatalf("checkpoint only %d bytes: the test proves nothing", total)
	}
	if growth > total/20 {
		t.Errorf("heap grew by %d bytes for a %d-byte checkpoint", growth, total)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
