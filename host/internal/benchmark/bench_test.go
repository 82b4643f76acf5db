package benchmark

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes/dropout"
	"github.com/graphpass/graphpass/passes/swiglu"
	"github.com/graphpass/graphpass/sdk"
)

// defaultOrder is the seed's pass order (sdk brief); modules not built yet
// are skipped.
var defaultOrder = []string{"rms_norm", "layer_norm", "rotary_embedding", "sdpa", "dropout", "swiglu",
	"attn_weights", "if_present", "native_attention", "nullify_block_cache"}

func module(name string) string {
	return filepath.Join("..", "..", "..", "passes", name, name+".wasm.gz")
}

var qwen3 *graph.Graph

// qwen3Graph is the 28-layer Qwen3-0.6B-shaped decoder graph (weightless).
func qwen3Graph(b *testing.B) *graph.Graph {
	b.Helper()
	if qwen3 == nil {
		cfg, err := model.Synthetic("qwen3-0.6b")
		if err != nil {
			b.Fatal(err)
		}
		g, err := model.BuildGraph(cfg, model.BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		qwen3 = g
	}
	return qwen3
}

func newHost(b *testing.B, cacheDir string, deadline bool) *host.Host {
	b.Helper()
	cfg := host.NewConfig().WithCompilationCacheDir(cacheDir)
	if !deadline {
		cfg = cfg.WithCallTimeout(0)
	}
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// loop runs f b.N times and reports CPU time per op next to wall time.
func loop(b *testing.B, f func()) {
	start := processCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64((processCPU()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// BenchmarkEncodeRequest is the host's side of sending the 28-layer graph:
// type inference and encoding.
func BenchmarkEncodeRequest(b *testing.B) {
	g := qwen3Graph(b)
	var size int
	loop(b, func() {
		types, err := graph.Infer(g)
		if err != nil {
			b.Fatal(err)
		}
		size = len(abi.EncodeRunRequest(&abi.RunRequest{ABIVersion: 1, Graph: g, ValueTypes: types, OptionsJSON: "{}"}))
	})
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(g.NumNodes()), "nodes")
}

// BenchmarkRun is one pass on the 28-layer graph, end to end: sandboxed
// (encode, instantiate, run in wazero, decode, apply, verify), the same
// without the deadline's loop checks, and natively: the pass's Go code
// called directly, with and without the ABI encoding round trip.
func BenchmarkRun(b *testing.B) {
	for _, tc := range []struct {
		name string
		pass *sdk.Pass
	}{{"dropout", dropout.Pass}, {"swiglu", swiglu.Pass}} {
		for _, deadline := range []bool{true, false} {
			variant := "sandboxed"
			if !deadline {
				variant = "sandboxed-nodeadline"
			}
			b.Run(tc.name+"/"+variant, func(b *testing.B) {
				g := qwen3Graph(b)
				h := newHost(b, b.TempDir(), deadline)
				p, err := h.LoadFile(context.Background(), module(tc.name))
				if err != nil {
					b.Fatal(err)
				}
				var t host.Timing
				loop(b, func() {
					res, err := p.Exec(context.Background(), g, "")
					if err != nil {
						b.Fatal(err)
					}
					t.Encode += res.Timing.Encode
					t.Run += res.Timing.Run
					t.Apply += res.Timing.Apply
				})
				n := float64(b.N)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
				b.ReportMetric(ms(t.Encode), "encode-ms/op")
				b.ReportMetric(ms(t.Run), "wasm-ms/op")
				b.ReportMetric(ms(t.Apply), "apply-ms/op")
			})
		}
		b.Run(tc.name+"/native", func(b *testing.B) {
			g := qwen3Graph(b)
			loop(b, func() {
				types, err := graph.Infer(g)
				if err != nil {
					b.Fatal(err)
				}
				res, err := tc.pass.Run(g, types, "{}")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := graph.Apply(g, res.Patch); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(tc.name+"/native-codec", func(b *testing.B) {
			g := qwen3Graph(b)
			loop(b, func() {
				types, err := graph.Infer(g)
				if err != nil {
					b.Fatal(err)
				}
				req, err := abi.DecodeRunRequest(abi.EncodeRunRequest(&abi.RunRequest{ABIVersion: 1, Graph: g, ValueTypes: types, OptionsJSON: "{}"}))
				if err != nil {
					b.Fatal(err)
				}
				resp, err := abi.DecodeRunResponse(abi.EncodeRunResponse(tc.pass.Serve(req)))
				if err != nil || resp.Error != nil {
					b.Fatal(err, resp.Error)
				}
				if _, err := graph.Apply(g, resp.Patch); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkLoad is compiling a pass module and calling its info: cold
// with an empty compilation cache, disk with a fresh Host over a filled one.
func BenchmarkLoad(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		loop(b, func() {
			b.StopTimer()
			h := newHost(b, b.TempDir(), true)
			b.StartTimer()
			if _, err := h.LoadFile(context.Background(), module("dropout")); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("disk", func(b *testing.B) {
		dir := b.TempDir()
		if _, err := newHost(b, dir, true).LoadFile(context.Background(), module("dropout")); err != nil {
			b.Fatal(err)
		}
		loop(b, func() {
			b.StopTimer()
			h := newHost(b, dir, true)
			b.StartTimer()
			if _, err := h.LoadFile(context.Background(), module("dropout")); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkPipeline is the default pipeline (the passes built so far) over
// the 28-layer graph: cold compiles every module (in parallel) with an
// empty cache, disk starts a Host over a filled cache, warm reuses loaded
// passes.
func BenchmarkPipeline(b *testing.B) {
	var ms []host.Module
	for _, name := range defaultOrder {
		if _, err := os.Stat(module(name)); err == nil {
			ms = append(ms, host.Module{Path: module(name)})
		}
	}
	load := func(b *testing.B, h *host.Host) []host.Step {
		passes, err := h.LoadAll(context.Background(), ms)
		if err != nil {
			b.Fatal(err)
		}
		var steps []host.Step
		for _, p := range passes {
			steps = append(steps, host.Step{Pass: p})
		}
		return steps
	}
	run := func(b *testing.B, steps []host.Step) {
		if _, _, err := host.Run(context.Background(), qwen3Graph(b), steps); err != nil {
			b.Fatal(err)
		}
	}
	for _, deadline := range []bool{true, false} {
		suffix := ""
		if !deadline {
			suffix = "-nodeadline"
		}
		b.Run("cold"+suffix, func(b *testing.B) {
			qwen3Graph(b)
			loop(b, func() {
				b.StopTimer()
				h := newHost(b, b.TempDir(), deadline)
				b.StartTimer()
				run(b, load(b, h))
			})
			b.ReportMetric(float64(len(ms)), "passes")
		})
		b.Run("disk"+suffix, func(b *testing.B) {
			dir := b.TempDir()
			load(b, newHost(b, dir, deadline))
			loop(b, func() {
				b.StopTimer()
				h := newHost(b, dir, deadline)
				b.StartTimer()
				run(b, load(b, h))
			})
			b.ReportMetric(float64(len(ms)), "passes")
		})
		b.Run("warm"+suffix, func(b *testing.B) {
			steps := load(b, newHost(b, b.TempDir(), deadline))
			loop(b, func() { run(b, steps) })
			b.ReportMetric(float64(len(ms)), "passes")
		})
	}
}
