package bench

import (
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
)

func TestWeightBytesPerToken(t *testing.T) {
	table := &graph.Initializer{Name: "emb", Type: graph.T(graph.BF16, graph.D(100), graph.D(8))}
	w := &graph.Initializer{Name: "w", Type: graph.T(graph.F32, graph.D(8), graph.D(8))}
	gather := &graph.Node{Name: "g", Op: "Gather", Inputs: []string{"emb", "ids"}, Outputs: []string{"x"}}
	mm := &graph.Node{Name: "m", Op: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}
	g := &graph.Graph{Initializers: []*graph.Initializer{table, w}, Nodes: []*graph.Node{gather, mm}}
	// The table is only gathered: one row (8 bf16) per token, plus w.
	if got, want := weightBytesPerToken(g), int64(8*2+8*8*4); got != want {
		t.Errorf("gathered table: %d bytes, want %d", got, want)
	}
	// Tied: the LM head reads the whole table.
	head := &graph.Node{Name: "h", Op: "MatMul", Inputs: []string{"y", "emb"}, Outputs: []string{"logits"}, Attrs: map[string]graph.Attr{"transpose_b": graph.Int(1)}}
	g.Nodes = append(g.Nodes, head)
	if got, want := weightBytesPerToken(g), int64(100*8*2+8*8*4); got != want {
		t.Errorf("tied table: %d bytes, want %d", got, want)
	}
}

// Each step is divided by the sample nearest it (the earlier one on a tie),
// and the median taken.
func TestPairedUtilization(t *testing.T) {
	ms := time.Millisecond
	r := &runner{phase: &Phase{WeightBytesPerToken: 90_000_000}, kvPerPosition: 1_000_000,
		times: []time.Duration{10 * ms, 10 * ms, 10 * ms, 5 * ms}, contexts: []int{10, 10, 10, 10}}
	// Every step reads 100 MB: 10 GB/s, the last 20 GB/s.
	samples := []bwSample{{0, 20}, {2, 10}, {4, 40}}
	// Steps 0 and 1 pair with round 0 (0.5), step 2 with round 2 (1.0),
	// step 3 ties between rounds 2 and 4 and takes 2 (2.0).
	if got := r.pairedUtilization(samples); math.Abs(got-0.75) > 1e-12 {
		t.Errorf("paired utilization %g, want 0.75", got)
	}
	if got := r.pairedUtilization(nil); got != 0 {
		t.Errorf("no samples: %g, want 0", got)
	}
}

func TestRunSyntheticTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and runs a synthetic checkpoint")
	}
	res, err := Run(context.Background(), Options{Synthetic: "qwen3-tiny", Bits: 4, Passes: []string{"none"},
		PromptTokens: 8, NewTokens: 3, WorkDir: t.TempDir(), BandwidthBytes: 16 << 20, OpTimes: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.DecodeTokPerSec <= 0 || res.PrefillTokPerSec <= 0 || res.MemoryGBs <= 0 || res.BWUtilization <= 0 {
		t.Errorf("missing rates: %+v", res)
	}
	// Samples: before loading, before the timed rounds (every
	// BandwidthEvery of them: round 0 alone here) and after.
	if len(res.MemorySamples) != 3 || res.PairedBWUtilization <= 0 {
		t.Errorf("bandwidth samples %v, paired utilization %g", res.MemorySamples, res.PairedBWUtilization)
	}
	if res.Unquantized == nil || res.QuantSpeedup <= 0 {
		t.Errorf("no 4-bit vs unquantized comparison: %+v", res)
	}
	if res.Unfused != nil {
		t.Error("passes none measured an unfused comparison too")
	}
	// 4-bit weights: the quantized model reads well under half the bytes.
	if q, b := res.WeightBytesPerToken, res.Unquantized.WeightBytesPerToken; q <= 0 || q*2 > b {
		t.Errorf("4-bit reads %d bytes per token, bf16 %d", q, b)
	}
	if res.Params == 0 || res.Runtime != "cpu" || res.RuntimeKind != "inproc" {
		t.Errorf("identity: %+v", res)
	}
	// Op times: the products are there, and the ops of a step take no
	// longer than the step (the rest, "(between ops)", is not negative).
	for _, p := range []*Phase{&res.Phase, res.Unquantized} {
		op := "MatMul"
		if p == &res.Phase {
			op = "QuantizedMatMul"
		}
		if p.DecodeOpMillis[op] <= 0 {
			t.Errorf("no %s time: %v", op, p.DecodeOpMillis)
		}
		for name, v := range p.DecodeOpMillis {
			if v < 0 {
				t.Errorf("%s: %g ms per step", name, v)
			}
		}
	}
	if os.Getenv(cpu.ProfileEnv) != "" {
		t.Errorf("%s left set after Run", cpu.ProfileEnv)
	}
	// A tiny model fits in any last-level cache: the note must say so.
	if res.LastLevelCache > 0 && !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "last-level cache") }) {
		t.Errorf("%d-byte last-level cache, %d bytes per token, no cache note: %q", res.LastLevelCache, res.WeightBytesPerToken, res.Notes)
	}
}
