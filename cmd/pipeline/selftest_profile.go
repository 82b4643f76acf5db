package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/bench"
	"github.com/graphpass/graphpass/cuda"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/pipeline"
)

type profileFlags struct {
	models        string
	configs       string
	prompt, steps int
}

type profileEntry struct {
	Model         string              `json:"model"`
	Config        string              `json:"config"`
	BytesPerToken float64             `json:"bytes_per_token"` // weights + KV cache read per decode step
	LimitTokS     float64             `json:"bandwidth_limit_tok_s"`
	Utilization   float64             `json:"greedy_bw_utilization"`
	Profile       *cuda.DecodeProfile `json:"profile"`
}

// profileDecode runs cuda.ProfileDecode for each model and configuration
// and prints a table (or JSON).
func profileDecode(ctx context.Context, out io.Writer, pf profileFlags, asJSON bool) error {
	d, err := cuda.Open(cuda.Options{})
	if err != nil {
		return fmt.Errorf("runtime cuda: %w", err)
	}
	defer d.Close()
	bw, err := d.CopyBandwidth(1<<30, 10)
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(out, "device %s: copy bandwidth %.0f GB/s (read + written), PDL %v\n", d.Description(), bw/1e9, d.SetPDL(true))
	}
	var entries []profileEntry
	for _, name := range strings.Split(pf.models, ",") {
		g, cleanup, err := profileGraph(ctx, name)
		if err != nil {
			return err
		}
		configs := []struct {
			name, fuse string
			pdl        bool
		}{{"unfused", "0", false}, {"fused", "1", false}, {"fused+pdl", "1", true}}
		for _, c := range configs {
			if pf.configs != "" && !strings.Contains(","+pf.configs+",", ","+c.name+",") {
				continue
			}
			os.Setenv("GRAPHPASS_GPU_FUSE", c.fuse)
			if d.SetPDL(c.pdl) != c.pdl {
				continue
			}
			p, err := cuda.ProfileDecode(ctx, d, g, pf.prompt, pf.steps)
			if err != nil {
				cleanup()
				return fmt.Errorf("profile %s (%s): %w", name, c.name, err)
			}
			e := profileEntry{Model: name, Config: c.name, Profile: p}
			e.BytesPerToken = float64(p.WeightBytes) + float64(bench.KVBytesPerPosition(g))*p.AvgContext
			e.LimitTokS = bw / e.BytesPerToken
			e.Utilization = 1000 / p.GreedyMs / e.LimitTokS
			entries = append(entries, e)
			if !asJSON {
				printProfile(out, e)
			}
		}
		os.Unsetenv("GRAPHPASS_GPU_FUSE")
		cleanup()
	}
	if asJSON {
		return emitJSON(out, entries)
	}
	return nil
}

func printProfile(out io.Writer, e profileEntry) {
	p := e.Profile
	fmt.Fprintf(out, "\n%s, %s: %d dispatches; prefill %.0f tok/s; decode %.3f ms/token greedy on the device (%.0f tok/s, %.1f%% of the %.0f tok/s bandwidth limit), %.3f ms with logits back and a host argmax (%.3f ms of it); GPU %.3f ms per step\n",
		e.Model, e.Config, p.Dispatches, p.PrefillTokS, p.GreedyMs, 1000/p.GreedyMs, 100*e.Utilization, e.LimitTokS, p.LogitsMs, p.HostArgmax, p.GPUMs)
	fmt.Fprintf(out, "  host per greedy step: upload %.3f ms, run %.3f ms, download %.3f ms; kernels queued back to back %.3f ms; empty graph node %.2f us\n",
		p.UploadMs, p.RunMs, p.DownloadMs, p.QueuedSumMs, p.EmptyKernelUs)
	for _, k := range p.Kernels {
		fmt.Fprintf(out, "  %-40s x%-4d queued %7.3f ms (%6.1f us each)  alone %6.1f us each  grid %v x %d\n",
			k.Kernel, k.Count, k.QueuedMs, 1000*k.QueuedMs/float64(k.Count), 1000*k.AloneMs/float64(k.Count), k.Grid, k.Threads)
	}
}

// profileGraph writes a random-weight checkpoint of the named synthetic
// model (suffix -4bit etc.: MLX affine quantization, group 64) and returns
// it after the default passes.
func profileGraph(ctx context.Context, name string) (*graph.Graph, func(), error) {
	base, bits := name, 0
	if i := strings.LastIndex(name, "-"); i > 0 && strings.HasSuffix(name, "bit") {
		if b, err := strconv.Atoi(strings.TrimSuffix(name[i+1:], "bit")); err == nil {
			base, bits = name[:i], b
		}
	}
	cfg, err := model.Synthetic(base)
	if err != nil {
		return nil, nil, usagef("--profile: %v", err)
	}
	if bits > 0 {
		cfg.Quantization = &model.Quantization{Bits: bits, GroupSize: 64}
	}
	dir, err := os.MkdirTemp("", "graphpass-profile-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := model.WriteSynthetic(dir, cfg, 1); err != nil {
		cleanup()
		return nil, nil, err
	}
	spec := &pipeline.Spec{Model: dir, Passes: []pipeline.PassSpec{{Defaults: true}}, Runtime: pipeline.RuntimeSpec{Name: pipeline.InprocName}}
	prep, err := pipeline.Prepare(ctx, spec, pipeline.Options{})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	if err := prep.Materialize(); err != nil {
		prep.Close()
		cleanup()
		return nil, nil, err
	}
	return prep.Graph, func() { prep.Close(); cleanup() }, nil
}
