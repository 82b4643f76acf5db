package passes_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
)

// reportCPU adds a cpu-ms/op metric measured since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N)/1e3, "cpu-ms/op")
}

// stages returns the default passes and the graph each one receives,
// starting from the 28-layer Qwen3-0.6B-shaped decoder (weightless).
func stages(b *testing.B) ([]passes.Builtin, []*graph.Graph) {
	b.Helper()
	g := testmodels.Shape(b, "qwen3-0.6b", model.BuildOptions{})
	names, _ := passes.Expand(nil)
	var ps []passes.Builtin
	var inputs []*graph.Graph
	for _, n := range names {
		p, _ := passes.Lookup(n)
		ps = append(ps, p)
		inputs = append(inputs, g)
		res, err := p.Pass.Run(g, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		if g, err = graph.Apply(g, res.Patch); err != nil {
			b.Fatal(err)
		}
	}
	return ps, inputs
}

// BenchmarkDefaultPipeline measures the default pipeline over a
// Qwen3-0.6B-shaped graph (28 layers, 1.9k nodes): per pass and in total,
// natively (the pass's Go code in-process) and through the host (encode,
// instantiate the compiled module, run, decode, apply and verify). wasm/<pass>
// and wasm/all-warm run every pass on its stage's graph; wasm/pipeline-*
// run host.Runner from the model's graph as `pipeline run` does (passes
// whose trigger ops are absent are skipped): warm (modules compiled once),
// disk-cached (a fresh host over wazero's disk cache) and cold (a fresh
// host without compilation cache compiles every module first). The
// -sandboxed variants load the built-ins untrusted, as third-party modules
// run, with the deadline's loop checks.
//
//	go test ./passes -run '^$' -bench DefaultPipeline -benchtime 5x
func BenchmarkDefaultPipeline(b *testing.B) {
	ps, inputs := stages(b)
	b.Run("native/all", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for n := 0; n < b.N; n++ {
			for i, p := range ps {
				res, err := p.Pass.Run(inputs[i], nil, "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := graph.Apply(inputs[i], res.Patch); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Logf("qwen3-0.6b graph: %d nodes before, default pipeline of %d passes", inputs[0].NumNodes(), len(ps))
	for i, p := range ps {
		b.Run("native/"+p.Name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for n := 0; n < b.N; n++ {
				res, err := p.Pass.Run(inputs[i], nil, "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := graph.Apply(inputs[i], res.Patch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	// The built-ins as the pipeline loads them (trusted: no deadline
	// checks), and as a third-party module would run (sandboxed).
	trusted := make([]*host.Pass, len(ps))
	sandboxed := make([]*host.Pass, len(ps))
	for i, p := range ps {
		if trusted[i], err = h.Load(ctx, p.Module()); err != nil {
			b.Fatal(err)
		}
		if sandboxed[i], err = h.Load(ctx, host.Module{Path: "builtin:" + p.Name, Wasm: p.Wasm}); err != nil {
			b.Fatal(err)
		}
	}
	for i, p := range ps {
		b.Run("wasm/"+p.Name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			var t host.Timing
			for n := 0; n < b.N; n++ {
				res, err := trusted[i].Exec(ctx, inputs[i], "")
				if err != nil {
					b.Fatal(err)
				}
				t.Encode += res.Timing.Encode
				t.Run += res.Timing.Run
				t.Apply += res.Timing.Apply
			}
			b.ReportMetric(float64(t.Encode.Microseconds())/float64(b.N)/1e3, "encode-ms/op")
			b.ReportMetric(float64(t.Run.Microseconds())/float64(b.N)/1e3, "run-ms/op")
			b.ReportMetric(float64(t.Apply.Microseconds())/float64(b.N)/1e3, "apply-ms/op")
		})
	}
	for _, v := range []struct {
		name   string
		loaded []*host.Pass
	}{{"all-warm", trusted}, {"all-warm-sandboxed", sandboxed}} {
		// Every pass on its stage's graph, each run (no skipping).
		b.Run("wasm/"+v.name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for n := 0; n < b.N; n++ {
				for i := range ps {
					if _, err := v.loaded[i].Exec(ctx, inputs[i], ""); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
	steps := func(loaded []*host.Pass) []host.Step {
		out := make([]host.Step, len(loaded))
		for i, p := range loaded {
			out[i] = host.Step{Pass: p}
		}
		return out
	}
	for _, v := range []struct {
		name   string
		loaded []*host.Pass
	}{{"pipeline-warm", trusted}, {"pipeline-warm-sandboxed", sandboxed}} {
		// What `pipeline run` does: host.Runner over the model's graph,
		// skipping untriggered passes and encoding each graph once.
		b.Run("wasm/"+v.name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for n := 0; n < b.N; n++ {
				if _, _, err := host.Run(ctx, inputs[0], steps(v.loaded)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A new process: a fresh host, modules from wazero's disk compilation
	// cache (what the CLI does after its first run).
	cacheDir := b.TempDir()
	prime, err := host.New(ctx, host.NewConfig().WithCompilationCacheDir(cacheDir))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range ps {
		if _, err := prime.Load(ctx, p.Module()); err != nil {
			b.Fatal(err)
		}
	}
	prime.Close(ctx)
	for _, v := range []struct {
		name string
		cfg  host.Config
	}{
		{"pipeline-disk-cached", host.NewConfig().WithCompilationCacheDir(cacheDir)},
		{"pipeline-cold", host.NewConfig().WithCompilationCacheDir("")}, // compile every module
	} {
		b.Run("wasm/"+v.name, func(b *testing.B) {
			defer reportCPU(b, cpuTime())
			for n := 0; n < b.N; n++ {
				h, err := host.New(ctx, v.cfg)
				if err != nil {
					b.Fatal(err)
				}
				mods := make([]host.Module, len(ps))
				for i, p := range ps {
					mods[i] = p.Module()
				}
				loaded, err := h.LoadAll(ctx, mods)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := host.Run(ctx, inputs[0], steps(loaded)); err != nil {
					b.Fatal(err)
				}
				h.Close(ctx)
			}
		})
	}
}
