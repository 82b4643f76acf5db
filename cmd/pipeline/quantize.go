package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/models"
	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/quant/convert"
)

func init() {
	var (
		modelDir, out    string
		bits, group      int
		seed, embeddings bool
		skipRows         int64
		exclude          []string
		force, asJSON    bool
		quiet, verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "quantize --out DIR [flags]",
		Short: "Write an MLX-format affine-quantized copy of a checkpoint",
		Long: `Quantize a Hugging Face checkpoint the way MLX does (affine, group-wise,
bit-exact with mlx.core.quantize) and write it in mlx-lm's layout: config.json
with "quantization" {group_size, bits}, model.safetensors with <module>.weight
(packed uint32), <module>.scales and <module>.biases for quantized modules, the
other tensors copied, tokenizer and generation files copied. mlx-lm and this
project both load the result.

Modules are chosen like mlx-lm's converter: every Linear weight and the token
embedding whose input dim divides by the group size (lm_head is dropped when
embeddings are tied). --seed-rules applies the seed library's stricter rules
instead: Linear weights only, both dims at least twice the group, and
vocabulary-sized matrices (--skip-rows, default 100000) skipped unless
--include-embeddings. --exclude keeps modules whose name matches a glob
pattern dense (e.g. 'lm_head', '*.mlp.down_proj', 'model.layers.0.*').

The output directory is written next to its final place and renamed into
place only once complete and loadable; an existing one is replaced only with
--force.`,
		Example: `  pipeline quantize --model ./Qwen3-0.6B --out ./Qwen3-0.6B-4bit
  pipeline quantize --model ./Qwen3-0.6B --bits 8 --group-size 32 --out ./q8 --json
  pipeline quantize --model ./Qwen3-0.6B --seed-rules --exclude '*.mlp.down_proj' --out ./q4-seed`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("quantize: --out DIR is required")
			}
			p := quant.Params{Bits: bits, GroupSize: group}
			if err := p.Validate(); err != nil {
				return usagef("quantize: %v", err)
			}
			if !seed && (embeddings || cmd.Flags().Changed("skip-rows")) {
				return usagef("quantize: --include-embeddings and --skip-rows refine --seed-rules")
			}
			if skipRows < 0 {
				return usagef("quantize: --skip-rows %d is negative", skipRows)
			}
			if modelDir == "" {
				d, err := models.DefaultDir()
				if err != nil {
					return err
				}
				modelDir = d
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			bars := newProgressBars(cmd, quiet)
			errw := cmd.ErrOrStderr()
			opts := convert.Options{Bits: bits, GroupSize: group, Seed: seed, SkipRows: skipRows,
				IncludeEmbeddings: embeddings, Exclude: exclude, Force: force,
				Progress: func(ev convert.Progress) {
					bars.report(pipeline.Progress{Stage: "quantize", Done: ev.Done, Total: ev.Total, Finished: ev.Tensor == "" && ev.Done == ev.Total})
					if verbose && ev.Tensor != "" {
						verb := "copy"
						if ev.Quantizing {
							verb = "quantize"
						}
						bars.pause()
						fmt.Fprintf(errw, "[%d/%d] %s %s\n", ev.Done+1, ev.Total, verb, ev.Tensor)
					}
				}}
			rep, err := convert.Quantize(ctx, modelDir, out, opts)
			bars.pause()
			if err != nil {
				if errors.Is(err, convert.ErrExists) {
					return usageError{err}
				}
				return fmt.Errorf("quantize: %w", err)
			}
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), rep)
			}
			printQuantReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "checkpoint directory to quantize (default: the bundled model)")
	f.StringVar(&out, "out", "", "output directory (must not exist unless --force)")
	f.IntVar(&bits, "bits", quant.Default.Bits, "bits per weight: 2, 3, 4, 5, 6 or 8")
	f.IntVar(&group, "group-size", quant.Default.GroupSize, "weights per scale/bias group: 32, 64 or 128")
	f.BoolVar(&seed, "seed-rules", false, "select modules with the seed library's rules instead of mlx-lm's")
	f.BoolVar(&embeddings, "include-embeddings", false, "with --seed-rules: also quantize embeddings and vocabulary-sized matrices")
	f.Int64Var(&skipRows, "skip-rows", 100_000, "with --seed-rules: matrices with at least this many rows stay dense")
	f.StringArrayVar(&exclude, "exclude", nil, "keep modules whose name matches this glob pattern dense (repeatable)")
	f.BoolVar(&force, "force", false, "replace an existing output directory")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress on stderr")
	f.BoolVarP(&verbose, "verbose", "v", false, "print each tensor on stderr as it is written")
	root.AddCommand(cmd)
}

func printQuantReport(w io.Writer, rep *convert.Report) {
	fmt.Fprintf(w, "wrote %s\n", rep.Output)
	fmt.Fprintf(w, "  %d of %d modules quantized to %d bits, group %d (%s rules), %.2f bits per weight with scales and biases\n",
		rep.Quantized, len(rep.Modules), rep.Bits, rep.GroupSize, rep.Rules, rep.BitsPerWeight)
	fmt.Fprintf(w, "  weights %s → %s\n", quantSize(rep.SourceBytes), quantSize(rep.OutputBytes))
	dense := 0
	for _, m := range rep.Modules {
		if !m.Quantized {
			if dense < 8 {
				fmt.Fprintf(w, "  dense: %s (%s)\n", m.Name, m.Reason)
			}
			dense++
		}
	}
	if dense > 8 {
		fmt.Fprintf(w, "  … and %d more dense modules (--json lists them)\n", dense-8)
	}
	for _, d := range rep.Dropped {
		fmt.Fprintf(w, "  dropped: %s (tied to the embedding)\n", d)
	}
	fmt.Fprintf(w, "next: pipeline run --model %s\n", shellQuote(rep.Output))
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if p != "" && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}

// quantSize formats a byte count (kept here so this command does not
// depend on another command's helpers).
func quantSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}
