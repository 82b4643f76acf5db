package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cuda"
	"github.com/graphpass/graphpass/gpu/gputest"
	"github.com/graphpass/graphpass/gpu/gputest/fixture"
	"github.com/graphpass/graphpass/metal"
	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/plugins"
)

// gpuRuntimes opens the GPU runtimes this CLI embeds.
var gpuRuntimes = map[string]func() (backend.Runtime, error){
	"cuda": func() (backend.Runtime, error) {
		r, err := cuda.NewRuntime()
		if err != nil {
			return nil, err
		}
		return r, nil
	},
	"metal": func() (backend.Runtime, error) {
		r, err := metal.NewRuntime()
		if err != nil {
			return nil, err
		}
		return r, nil
	},
}

func init() {
	// `--runtime cuda|metal` works with only the CLI installed: it serves
	// these runtimes itself (`pipeline plugin serve NAME`).
	for name, open := range gpuRuntimes {
		plugins.RegisterEmbedded(name, open)
	}

	var (
		runtimeName string
		viaPlugin   bool
		fixtures    string
		asJSON      bool
		only        string
		prof        profileFlags
	)
	cmd := &cobra.Command{
		Use:   "selftest",
		Short: "Check a GPU runtime: every kernel against the CPU runtime, then the reference fixtures' greedy ids",
		Long: `selftest runs every kernel of a GPU runtime on random inputs (all weight dtypes,
odd sizes, GQA ratios, padding, prefill then decode) and compares it with the
CPU reference runtime, then runs the reference checkpoints (qwen3-tiny,
llama-tiny-llama3rope, qwen3-tiny-mlx4bit under --fixtures) through the default
passes and checks their logits and greedy ids against Hugging Face's.

It exits 0 when everything passes and 1 otherwise.

With --profile it instead measures where a decode step's time goes on the
CUDA runtime, for random-weight checkpoints in the shape of the named models
(a -4bit suffix quantizes, as bench --bits 4): the unfused plan (one
dispatch per op) and the fused plan, without and with programmatic
dependent launch; per configuration the prefill rate, decode with logits
copied back and with greedy ids picked on the device, the GPU time of a step
and every kernel's share of it.`,
		Example: `  pipeline selftest
  pipeline selftest --only decoder/
  pipeline selftest --profile qwen3-0.6b,qwen3-0.6b-4bit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			open, ok := gpuRuntimes[runtimeName]
			if !ok {
				return usagef("--runtime must be cuda or metal, got %q", runtimeName)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if prof.models != "" {
				if runtimeName != "cuda" || viaPlugin {
					return usagef("--profile needs the in-process cuda runtime")
				}
				if prof.prompt < 1 || prof.steps < 2 {
					return usagef("--profile-prompt must be at least 1 and --profile-steps at least 2")
				}
				return profileDecode(ctx, cmd.OutOrStdout(), prof, asJSON)
			}
			var rt backend.Runtime
			var err error
			if viaPlugin {
				rt, _, err = pipeline.OpenRuntime(ctx, pipeline.RuntimeSpec{Name: runtimeName}, pipeline.Options{})
			} else {
				rt, err = open()
			}
			if err != nil {
				return fmt.Errorf("runtime %s: %w", runtimeName, err)
			}
			defer rt.Close()
			return selftest(ctx, cmd, rt, fixtures, only, asJSON)
		},
	}
	cmd.Flags().StringVar(&runtimeName, "runtime", defaultGPURuntime(), "GPU runtime to check: cuda or metal")
	cmd.Flags().BoolVar(&viaPlugin, "plugin", false, "run the runtime as a plugin process instead of in this process")
	cmd.Flags().StringVar(&fixtures, "fixtures", filepath.Join("testdata", "fixtures"), "directory of the reference checkpoints (skipped when absent)")
	cmd.Flags().StringVar(&only, "only", "", "run only the kernel cases whose name starts with this")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of the table")
	cmd.Flags().StringVar(&prof.models, "profile", "", "profile decoding of these synthetic models (comma-separated, e.g. qwen3-0.6b,qwen3-0.6b-4bit) instead of checking")
	cmd.Flags().StringVar(&prof.configs, "profile-configs", "", "profile only these configurations (comma-separated: unfused, fused, fused+pdl)")
	cmd.Flags().IntVar(&prof.prompt, "profile-prompt", 512, "prompt tokens prefilled before profiling decode")
	cmd.Flags().IntVar(&prof.steps, "profile-steps", 96, "decode steps timed per configuration")
	root.AddCommand(cmd)
}

func defaultGPURuntime() string {
	if runtime.GOOS == "darwin" {
		return "metal"
	}
	return "cuda"
}

type selftestReport struct {
	Runtime  string          `json:"runtime"`
	Device   string          `json:"device"`
	Kernels  []selftestEntry `json:"kernels"`
	Fixtures []selftestEntry `json:"fixtures"`
	Passed   int             `json:"passed"`
	Failed   int             `json:"failed"`
	Skipped  []string        `json:"skipped,omitempty"`
	Seconds  float64         `json:"seconds"`
}

type selftestEntry struct {
	Name   string  `json:"name"`
	RelErr float64 `json:"rel_err"`
	Error  string  `json:"error,omitempty"`
}

func selftest(ctx context.Context, cmd *cobra.Command, rt backend.Runtime, fixtures, only string, asJSON bool) error {
	start := time.Now()
	caps := rt.Capabilities()
	rep := selftestReport{Runtime: caps.Name, Device: caps.Device}
	out := cmd.OutOrStdout()
	line := func(kind string, e selftestEntry) {
		if asJSON {
			return
		}
		status := "ok  "
		if e.Error != "" {
			status = "FAIL"
		}
		fmt.Fprintf(out, "%s %-8s %-48s rel err %.2e %s\n", status, kind, e.Name, e.RelErr, e.Error)
	}
	if !asJSON {
		fmt.Fprintf(out, "runtime %s on %s\n", caps.Name, caps.Device)
	}
	for _, c := range gputest.Cases() {
		if only != "" && (len(c.Name) < len(only) || c.Name[:len(only)] != only) {
			continue
		}
		r := gputest.Run(ctx, rt, c)
		e := selftestEntry{Name: r.Name, RelErr: r.RelErr}
		if r.Err != nil {
			e.Error = r.Err.Error()
			rep.Failed++
		} else {
			rep.Passed++
		}
		rep.Kernels = append(rep.Kernels, e)
		line("kernel", e)
	}
	for _, f := range fixture.Fixtures {
		dir := filepath.Join(fixtures, f)
		if _, err := os.Stat(filepath.Join(dir, "reference.safetensors")); err != nil {
			rep.Skipped = append(rep.Skipped, dir)
			continue
		}
		r := selftestFixture(ctx, rt, dir)
		e := selftestEntry{Name: f, RelErr: r.LogitsErr}
		if r.Err != nil {
			e.Error = r.Err.Error()
			rep.Failed++
		} else {
			rep.Passed++
		}
		rep.Fixtures = append(rep.Fixtures, e)
		line("fixture", e)
	}
	rep.Seconds = time.Since(start).Seconds()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, s := range rep.Skipped {
			fmt.Fprintf(out, "skipped fixture %s (not found; pass --fixtures DIR)\n", s)
		}
		fmt.Fprintf(out, "%d passed, %d failed\n", rep.Passed, rep.Failed)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("selftest: %d of %d checks failed on %s", rep.Failed, rep.Passed+rep.Failed, caps.Device)
	}
	return nil
}

// selftestFixture rewrites the fixture in dir with the default passes and
// checks it on rt.
func selftestFixture(ctx context.Context, rt backend.Runtime, dir string) fixture.FixtureResult {
	spec := &pipeline.Spec{Model: dir, Passes: []pipeline.PassSpec{{Defaults: true}}, Runtime: pipeline.RuntimeSpec{Name: pipeline.InprocName}}
	prep, err := pipeline.Prepare(ctx, spec, pipeline.Options{})
	if err != nil {
		return fixture.FixtureResult{Name: filepath.Base(dir), Err: err}
	}
	defer prep.Close()
	if err := prep.Materialize(); err != nil {
		return fixture.FixtureResult{Name: filepath.Base(dir), Err: err}
	}
	return fixture.Check(ctx, rt, prep.Graph, dir)
}
