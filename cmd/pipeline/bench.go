package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/bench"
	"github.com/graphpass/graphpass/model"
)

func init() {
	var o bench.Options
	var asJSON, quiet bool
	var passes, cpuProfile string
	cmd := &cobra.Command{
		Use:   "bench (--synthetic NAME | --model DIR)",
		Short: "Measure prefill and decode speed against memory bandwidth",
		Long: `Bench prefills a random prompt and decodes greedily, then reports the
rates next to what bounds them. Decoding one token reads every weight once,
so bench also measures the machine's memory bandwidth in the same run (a
streaming read over a buffer far larger than the caches) and reports
bw_utilization = weight bytes per token x tokens per second / bandwidth.

In the same run it measures the unfused graph (no passes) for the
fused_vs_unfused_decode ratio, and with --bits the unquantized model for
quant_vs_bf16_decode.

--synthetic writes a random-weight checkpoint in the exact shape of a known
model (` + strings.Join(model.SyntheticNames(), ", ") + `) to the user
cache directory once, and loads it like any checkpoint.`,
		Example: `  pipeline bench --synthetic qwen3-0.6b --json
  pipeline bench --synthetic qwen3-0.6b --bits 4 --new-tokens 16
  pipeline bench --model ./my-checkpoint --passes none`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (o.Synthetic == "") == (o.Model == "") {
				return usagef("give exactly one of --synthetic NAME or --model DIR")
			}
			if o.Synthetic != "" {
				if _, err := model.Synthetic(o.Synthetic); err != nil {
					return usagef("--synthetic: %v", err)
				}
			}
			if o.Model != "" {
				o.Model = absPath(o.Model)
			}
			if o.Bits != 0 {
				ok := false
				for _, b := range []int{2, 3, 4, 5, 6, 8} {
					ok = ok || b == o.Bits
				}
				if !ok {
					return usagef("--bits %d: want 2, 3, 4, 5, 6 or 8", o.Bits)
				}
				if o.Synthetic == "" {
					return usagef("--bits needs --synthetic (a real checkpoint is benchmarked as stored)")
				}
			}
			if o.PromptTokens < 0 || o.NewTokens < 0 || o.Threads < 0 {
				return usagef("--prompt-tokens, --new-tokens and --threads must not be negative")
			}
			if cmd.Flags().Changed("new-tokens") && o.NewTokens < 2 {
				return usagef("--new-tokens must be at least 2")
			}
			switch passes {
			case "", "default":
			case "none":
				o.Passes = []string{"none"}
			default:
				o.Passes = strings.Split(passes, ",")
			}
			if !quiet {
				o.Log = cmd.ErrOrStderr()
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpu-profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			res, err := bench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), res)
			}
			printBench(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Synthetic, "synthetic", "", "random-weight model of a known shape, e.g. qwen3-0.6b")
	f.StringVar(&o.Model, "model", "", "checkpoint directory to benchmark instead")
	f.IntVar(&o.Bits, "bits", 0, "benchmark an MLX affine-quantized (group 64) version with this many bits, and compare with bf16")
	f.StringVar(&o.Runtime, "runtime", "inproc", "runtime: inproc (CPU in this process), or a plugin name or path (cpu, cuda, metal)")
	f.StringVar(&passes, "passes", "default", `passes to run: "default", "none", or a comma-separated list of built-in passes`)
	f.IntVar(&o.PromptTokens, "prompt-tokens", 128, "prompt length to prefill")
	f.IntVar(&o.NewTokens, "new-tokens", 32, "tokens to decode (the first is a warm-up and not timed)")
	f.IntVar(&o.Threads, "threads", 0, "CPU threads (0: all cores)")
	f.BoolVar(&o.SkipUnfused, "skip-unfused", false, "skip the unfused comparison run")
	f.StringVar(&o.WorkDir, "work-dir", "", "where synthetic checkpoints are cached (default: the user cache dir)")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a Go CPU profile of the whole run (go tool pprof) to this file")
	f.BoolVar(&o.OpTimes, "op-times", false, "also report decode time per op type (CPU runtimes)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	root.AddCommand(cmd)
}

func printBench(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (%d params, %s", r.Model, r.Params, r.DType)
	if r.Bits > 0 {
		fmt.Fprintf(tw, ", %d-bit", r.Bits)
	}
	fmt.Fprintf(tw, ")\n")
	fmt.Fprintf(tw, "runtime\t%s (%s) on %s\n", r.Runtime, r.RuntimeKind, r.Device)
	fmt.Fprintf(tw, "memory bandwidth\t%.1f GB/s (streaming read, %d threads; load average %s)\n", r.MemoryGBs, r.Threads, r.LoadAverage)
	if r.LastLevelCache > 0 {
		fmt.Fprintf(tw, "last-level cache\t%s\n", benchBytes(r.LastLevelCache))
	}
	phase := func(name string, p *bench.Phase) {
		fmt.Fprintf(tw, "%s\tprefill %.1f tok/s; decode %.2f tok/s (median %.1f ms, best %.1f ms per token); %s weights + %s KV per token = %.2f GB/s = %.0f%% of bandwidth (best step %.0f%%)\n",
			name, p.PrefillTokPerSec, p.DecodeTokPerSec, p.DecodeMillis, p.DecodeBestMillis, benchBytes(p.WeightBytesPerToken), benchBytes(p.KVBytesPerToken), p.AchievedGBs, 100*p.BWUtilization, 100*p.BestBWUtilization)
		if p.PairedBWUtilization > 0 {
			fmt.Fprintf(tw, "\teach step against the bandwidth sample nearest it: %.0f%% (median)\n", 100*p.PairedBWUtilization)
		}
		if len(p.DecodeOpMillis) > 0 {
			fmt.Fprintf(tw, "\tdecode ms per token by op: %s\n", opBreakdown(p.DecodeOpMillis))
		}
	}
	phase(fmt.Sprintf("%d passes", len(r.Passes)), &r.Phase)
	if r.Unfused != nil {
		phase("no passes", r.Unfused)
		fmt.Fprintf(tw, "fused vs unfused decode\t%.2fx\n", r.FusedSpeedup)
	}
	if r.Unquantized != nil {
		phase("unquantized", r.Unquantized)
		fmt.Fprintf(tw, "%d-bit vs unquantized decode\t%.2fx\n", r.Bits, r.QuantSpeedup)
	}
	fmt.Fprintf(tw, "resident memory\tpeak %s; after decoding %s anonymous, %s file-backed (%s of weights mapped)\n",
		benchBytes(r.PeakRSS), benchBytes(r.RSSAnon), benchBytes(r.RSSFile), benchBytes(r.MappedBytes))
	for _, n := range r.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	tw.Flush()
}

// opBreakdown lists op times, largest first.
func opBreakdown(ops map[string]float64) string {
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, op)
	}
	sort.Slice(names, func(i, j int) bool {
		return ops[names[i]] > ops[names[j]] || ops[names[i]] == ops[names[j]] && names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, op := range names {
		parts[i] = fmt.Sprintf("%s %.3f", op, ops[op])
	}
	return strings.Join(parts, ", ")
}

func benchBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
