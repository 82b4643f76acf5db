package convert

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/tensor"
)

const (
	dense  = "../../testdata/fixtures/qwen3-tiny"
	mlx4   = "../../testdata/fixtures/qwen3-tiny-mlx4bit"
	gpt2   = "../../testdata/fixtures/gpt2-tiny"
	llama3 = "../../testdata/fixtures/llama-tiny-llama3rope"
)

func readTensors(t *testing.T, path string) map[string]*tensor.Tensor {
	t.Helper()
	ts, err := tensor.ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestQuantizeMatchesMLX converts the bf16 qwen3-tiny checkpoint and
// compares every output tensor with the checkpoint MLX wrote.
func TestQuantizeMatchesMLX(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q4")
	var steps int
	rep, err := Quantize(context.Background(), dense, out, Options{Progress: func(Progress) { steps++ }})
	if err != nil {
		t.Fatal(err)
	}
	got := readTensors(t, filepath.Join(out, "model.safetensors"))
	want := readTensors(t, filepath.Join(mlx4, "model.safetensors"))
	if len(got) != len(want) {
		t.Errorf("%d tensors, MLX wrote %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s missing", name)
		case g.DType != w.DType || !equalInts(g.Shape, w.Shape):
			t.Errorf("%s: %s%v, MLX %s%v", name, g.DType, g.Shape, w.DType, w.Shape)
		case string(g.Bytes()) != string(w.Bytes()):
			t.Errorf("%s: bytes differ from MLX's", name)
		}
	}
	var cfg struct {
		Quantization       map[string]any `json:"quantization"`
		QuantizationConfig map[string]any `json:"quantization_config"`
		HiddenSize         int            `json:"hidden_size"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, q := range []map[string]any{cfg.Quantization, cfg.QuantizationConfig} {
		if q["bits"] != 4.0 || q["group_size"] != 64.0 {
			t.Errorf("config quantization %v", q)
		}
	}
	if cfg.HiddenSize != 64 {
		t.Errorf("config lost hidden_size: %s", b)
	}
	if _, err := os.Stat(filepath.Join(out, "generation_config.json")); err != nil {
		t.Errorf("generation_config.json not copied: %v", err)
	}
	if rep.Quantized != 15 || rep.BitsPerWeight < 4.49 || rep.BitsPerWeight > 4.51 {
		t.Errorf("report: %d quantized, %.3f bits/weight; want 15 and 4.5", rep.Quantized, rep.BitsPerWeight)
	}
	if steps < len(want) {
		t.Errorf("%d progress calls for %d tensors", steps, len(want))
	}
	for _, m := range rep.Modules {
		if m.Quantized && (m.Error <= 0 || m.Error > 0.15) {
			t.Errorf("%s: relative error %g", m.Name, m.Error)
		}
	}
	// What we wrote loads as a quantized model.
	ck, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ops := g.OpCounts()
	if ops["QuantizedMatMul"] != 15 || ops["QuantizedGather"] != 1 || ops["MatMul"] != 2*2 {
		t.Errorf("loaded graph ops %v: want 15 QuantizedMatMul (14 linears + tied lm_head), 1 QuantizedGather, 4 attention MatMuls", ops)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQuantizeRefusals(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	os.Mkdir(exists, 0o755)
	os.WriteFile(filepath.Join(exists, "keep"), []byte("x"), 0o644)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		src  string
		dst  string
		opts Options
		want string
	}{
		{"exists", dense, exists, Options{}, "already exists"},
		{"bits", dense, filepath.Join(dir, "a"), Options{Bits: 7}, "bits 7"},
		{"group", dense, filepath.Join(dir, "b"), Options{GroupSize: 48}, "group size 48"},
		{"pattern", dense, filepath.Join(dir, "c"), Options{Exclude: []string{"["}}, "exclude pattern"},
		{"quantized source", mlx4, filepath.Join(dir, "d"), Options{}, "already quantized"},
		{"missing source", filepath.Join(dir, "nope"), filepath.Join(dir, "e"), Options{}, "nope"},
		{"into itself", dense, dense, Options{Force: true}, "is the source checkpoint"},
	} {
		_, err := Quantize(ctx, tc.src, tc.dst, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	if _, err := Quantize(ctx, dense, exists, Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("existing output: %v does not wrap ErrExists", err)
	}
	if b, err := os.ReadFile(filepath.Join(exists, "keep")); err != nil || string(b) != "x" {
		t.Error("a refused conversion touched the existing output")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

// TestQuantizeCancelled stops mid-way and checks nothing is published.
func TestQuantizeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	out := filepath.Join(dir, "q")
	n := 0
	_, err := Quantize(ctx, dense, out, Options{Progress: func(p Progress) {
		if n++; n == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("cancelled conversion left %v", ents)
	}
}

func TestQuantizeForceReplaces(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q")
	ctx := context.Background()
	if _, err := Quantize(ctx, dense, out, Options{}); err != nil {
		t.Fatal(err)
	}
	rep, err := Quantize(ctx, dense, out, Options{Bits: 8, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if q := ck.Config.Quantization; q == nil || q.Bits != 8 {
		t.Errorf("replaced checkpoint has quantization %v, want 8 bits", q)
	}
	if rep.Bits != 8 {
		t.Errorf("report bits %d", rep.Bits)
	}
}

// TestQuantizeGPT2 converts a checkpoint with Conv1D weights: they are
// stored transposed ([out, in], MLX's layout) and the result loads.
func TestQuantizeGPT2(t *testing.T) {
	out := filepath.Join(t.TempDir(), "g")
	rep, err := Quantize(context.Background(), gpt2, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Quantized != 9 {
		t.Errorf("%d modules quantized, want 9 (8 Conv1D + wte)", rep.Quantized)
	}
	got := readTensors(t, filepath.Join(out, "model.safetensors"))
	if w := got["transformer.h.0.mlp.c_fc.weight"]; w == nil || !equalInts(w.Shape, []int{256, 64 * 4 / 32}) {
		t.Errorf("c_fc packed as %v, want [256, 8]", w.Shape)
	}
	if _, ok := got["transformer.wpe.weight"]; !ok {
		t.Error("wpe missing")
	}
}

// TestQuantizeSeedRules: with the seed's rules at group 32 every linear of
// qwen3-tiny qualifies (both dims ≥ 64) and the embedding stays dense.
func TestQuantizeSeedRules(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s")
	rep, err := Quantize(context.Background(), dense, out, Options{Seed: true, GroupSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Modules {
		if want := m.Kind == "linear"; m.Quantized != want {
			t.Errorf("%s (%s): quantized=%v (%s)", m.Name, m.Kind, m.Quantized, m.Reason)
		}
	}
	ck, err := model.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ops := g.OpCounts(); ops["QuantizedMatMul"] != 14 || ops["Gather"] != 1 {
		t.Errorf("ops %v: want 14 QuantizedMatMul and a dense embedding Gather", ops)
	}
}
