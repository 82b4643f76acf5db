package convert

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/tensor"
)

// TestConvertedRunsLikeMLXReference converts qwen3-tiny, loads the result
// and runs it on the CPU runtime (and MLX's own checkpoint likewise):
// prefill logits must match the qwen3-tiny-mlx4bit reference (transformers
// on the dequantized weights), and greedy decoding must reproduce its 12
// ids per row.
func TestConvertedRunsLikeMLXReference(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q4")
	if _, err := Quantize(context.Background(), dense, out, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{out, mlx4} {
		t.Run(filepath.Base(dir), func(t *testing.T) { runAgainstReference(t, dir) })
	}
}

func runAgainstReference(t *testing.T, dir string) {
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := cpu.Compile(g, cpu.Options{Weights: ck.Store})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ref := readTensors(t, filepath.Join(mlx4, "reference.safetensors"))
	var meta struct {
		GeneratedIDs [][]int64 `json:"generated_ids"`
	}
	b, _ := os.ReadFile(filepath.Join(mlx4, "reference.json"))
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	cfg := ck.Config
	ids, mask := ref["input_ids"].ToI64(), ref["attention_mask"].ToI64()
	const batch, prompt = 2, 8

	// run evaluates the whole sequences (no cache: past length 0) and
	// returns logits [batch, seq, vocab].
	run := func(ids, mask []int64, seq int) *tensor.Tensor {
		pos := make([]int64, len(mask))
		for r := 0; r < batch; r++ {
			c := int64(0)
			for s := 0; s < seq; s++ {
				c += mask[r*seq+s]
				pos[r*seq+s] = c - 1
				if mask[r*seq+s] == 0 {
					pos[r*seq+s] = 1
				}
			}
		}
		in := map[string]*tensor.Tensor{
			graph.InputIDs:      tensor.FromI64([]int{batch, seq}, ids),
			graph.AttentionMask: tensor.FromI64([]int{batch, seq}, mask),
			graph.PositionIDs:   tensor.FromI64([]int{batch, seq}, pos),
		}
		for i := 0; i < cfg.NumLayers; i++ {
			in[graph.PastKey(i)] = tensor.New(graph.F32, batch, cfg.NumKVHeads, 0, cfg.HeadDim)
			in[graph.PastValue(i)] = tensor.New(graph.F32, batch, cfg.NumKVHeads, 0, cfg.HeadDim)
		}
		res, err := p.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		return res[graph.Logits].Clone()
	}

	logits := run(ids, mask, prompt)
	vocab := cfg.VocabSize
	relErr := func(want []float32) float64 {
		var maxErr, maxRef float64
		for r := 0; r < batch; r++ {
			for s := 0; s < prompt; s++ {
				if mask[r*prompt+s] == 0 {
					continue
				}
				off := (r*prompt + s) * vocab
				for v := 0; v < vocab; v++ {
					maxErr = math.Max(maxErr, math.Abs(float64(logits.F32()[off+v]-want[off+v])))
					maxRef = math.Max(maxRef, math.Abs(float64(want[off+v])))
				}
			}
		}
		return maxErr / maxRef
	}
	// The stored reference is itself 9.8e-5 (relative) away from
	// transformers re-running the same fixture in float32 on CPU and CUDA
	// (testdata/fixtures/reruns/diagnostics.json), so it gets 1.5e-4; the
	// CPU eager re-run gets a bound 10× tighter than the brief's 1e-4.
	stored := relErr(ref["logits"].F32())
	rerun := relErr(readTensors(t, "../../testdata/fixtures/reruns/qwen3-tiny-mlx4bit.cpu-eager.safetensors")["logits"].F32())
	t.Logf("prefill logits relative error: %.3g vs stored reference, %.3g vs transformers re-run", stored, rerun)
	if stored > 1.5e-4 || rerun > 1e-5 {
		t.Errorf("prefill logits relative error %.3g (stored), %.3g (re-run); bounds 1.5e-4, 1e-5", stored, rerun)
	}

	// Greedy decoding, 12 steps, recomputing the whole sequence each step.
	seq := prompt
	cur, curMask := append([]int64(nil), ids...), append([]int64(nil), mask...)
	for step := 0; step < 12; step++ {
		l := run(cur, curMask, seq).F32()
		next := make([]int64, batch)
		for r := 0; r < batch; r++ {
			row := l[(r*seq+seq-1)*vocab : (r*seq+seq)*vocab]
			best := 0
			for v := range row {
				if row[v] > row[best] {
					best = v
				}
			}
			next[r] = int64(best)
			if w := meta.GeneratedIDs[r][prompt+step]; int64(best) != w {
				t.Fatalf("row %d step %d: greedy id %d, reference %d", r, step, best, w)
			}
		}
		var nc, nm []int64
		for r := 0; r < batch; r++ {
			nc = append(append(nc, cur[r*seq:(r+1)*seq]...), next[r])
			nm = append(append(nm, curMask[r*seq:(r+1)*seq]...), 1)
		}
		cur, curMask, seq = nc, nm, seq+1
	}
}
