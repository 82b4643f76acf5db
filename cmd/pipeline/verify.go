package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/pipeline"
	"github.com/graphpass/graphpass/validate"
)

type verifyJSON struct {
	Model     string                     `json:"model"`
	Runtime   pipeline.RuntimeInfo       `json:"runtime"`
	Passes    []passSummary              `json:"passes"`
	Nodes     [2]int                     `json:"nodes"`
	PromptIDs [][]int32                  `json:"prompt_ids"`
	EndToEnd  *pipeline.LogitsComparison `json:"end_to_end"`
	OK        bool                       `json:"ok"`
	// Dequantized names the weights the reference uses dequantized, because
	// a pass quantized them (quantization is lossy by design).
	Dequantized []string `json:"dequantized,omitempty"`
}

// defaultVerifyPrompts are two rows of ids spread over the vocabulary, the
// second shorter so the batch is left-padded as real batches are.
func defaultVerifyPrompts(vocab int) [][]int32 {
	if vocab <= 0 {
		vocab = 2
	}
	row := func(n, salt int) []int32 {
		r := make([]int32, n)
		for i := range r {
			r[i] = int32((i*977 + salt*131 + 13) % vocab)
		}
		return r
	}
	return [][]int32{row(8, 1), row(5, 2)}
}

func init() {
	var mf modelFlags
	var gf graphFlags
	var asJSON, verbose bool
	var steps int
	var tol float64
	var runtimeName, ids, prompt string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the passes preserve what the model computes",
		Long: `Verify proves a pipeline's rewrites numerically, twice over:

  1. translation validation: every rewrite of every pass is checked as it is
     made, by evaluating the subgraph it removes and its replacement on
     random inputs with the CPU runtime (stateful rewrites such as
     KVCacheAttention run as whole decoder sessions instead);
  2. end to end: the model before and after all passes run the same prompts
     (weights a pass quantizes are dequantized in the "before" model)
     (a left-padded batch) through a prefill and --steps greedy decode steps
     on the runtime, and their logits must agree within --tolerance
     (max|after-before| / max|before|) with the same most likely token at
     every real position.

It exits with status 1 if either check fails.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			s, err := mf.spec(cmd)
			if err != nil {
				return err
			}
			gf.apply(s)
			s.Verify = pipeline.VerifyNumeric
			if cmd.Flags().Changed("runtime") || mf.pipelineFile == "" {
				rs, err := runtimeFlag(runtimeName)
				if err != nil {
					return err
				}
				s.Runtime = rs
			}
			if steps < 0 {
				return usagef("--steps must not be negative")
			}
			if ids != "" && prompt != "" {
				return usagef("give --ids or --prompt, not both")
			}
			if ids != "" {
				if s.Generate.IDs, err = parseIDs(ids); err != nil {
					return err
				}
				s.Generate.Prompt = ""
			} else if prompt != "" {
				s.Generate.Prompt, s.Generate.IDs = prompt, nil
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			defer func() { retErr = interrupted(ctx, retErr) }()
			bars := newProgressBars(cmd, asJSON)
			opts := pipeline.Options{Progress: bars.report}
			if verbose {
				opts.Log = cmd.ErrOrStderr()
			}
			p, err := pipeline.Prepare(ctx, s, opts)
			if err != nil {
				return err
			}
			defer p.Close()
			prompts := defaultVerifyPrompts(p.Checkpoint.Config.VocabSize)
			if len(s.Generate.IDs) > 0 || s.Generate.Prompt != "" {
				tok, err := p.Tokenizer()
				if err != nil {
					return err
				}
				if prompts, _, err = p.Prompts(tok); err != nil {
					return err
				}
			}
			rt, info, err := pipeline.OpenRuntime(ctx, s.Runtime, opts)
			if err != nil {
				return err
			}
			defer rt.Close()
			// Quantization is lossy by design: the end-to-end reference
			// uses the weights the quantized model really computes with.
			reference, dequantized, err := validate.DequantizedReference(p.Source, p.Graph, p.Checkpoint.Store)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			before, err := rt.Load(ctx, reference, backend.LoadOptions{Threads: s.Runtime.Threads})
			if err != nil {
				return fmt.Errorf("load the graph before the passes: %w", err)
			}
			defer before.Close()
			after, _, err := p.Load(ctx, rt)
			if err != nil {
				return err
			}
			defer after.Close()
			bars.report(pipeline.Progress{Stage: "compare logits"})
			cmp, err := pipeline.CompareLogits(ctx, before, after, prompts, steps, tol)
			bars.pause()
			if err != nil {
				return err
			}
			v := &verifyJSON{Model: p.ModelDir, Runtime: info, Passes: summarizePasses(p.Passes, p.Reports),
				Nodes: [2]int{p.Source.NumNodes(), p.Graph.NumNodes()}, PromptIDs: prompts, EndToEnd: cmp, OK: cmp.OK(),
				Dequantized: dequantized}
			if asJSON {
				if err := emitJSON(cmd.OutOrStdout(), v); err != nil {
					return err
				}
			} else {
				v.print(cmd.OutOrStdout())
			}
			if !cmp.OK() {
				if !cmp.ArgmaxOK {
					return fmt.Errorf("verify: the rewritten model picks a different most likely token (relative logits error %.3g)", cmp.RelErr)
				}
				return fmt.Errorf("verify: relative logits error %.3g exceeds the tolerance %.3g", cmp.RelErr, tol)
			}
			return nil
		},
	}
	mf.register(cmd, "default")
	gf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&runtimeName, "runtime", "inproc", "runtime for the end-to-end comparison: inproc, cpu, cuda, metal or a plugin path")
	f.IntVar(&steps, "steps", 8, "greedy decode steps after the prefill")
	f.Float64Var(&tol, "tolerance", 1e-4, "largest relative logits error accepted end to end")
	f.StringVar(&ids, "ids", "", `prompt ids ("1,2,3"; rows "1,2;3" as a batch); default: two rows spread over the vocabulary`)
	f.StringVar(&prompt, "prompt", "", "prompt text instead of --ids")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVarP(&verbose, "verbose", "v", false, "show pass and plugin logs on stderr")
	root.AddCommand(cmd)
}

func (v *verifyJSON) print(w io.Writer) {
	fmt.Fprintf(w, "model %s, runtime %s (%s)\n\n", v.Model, v.Runtime.Name, v.Runtime.Kind)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "pass\trewrites validated\tresult")
	for _, p := range v.Passes {
		res := "ok"
		if p.Error != nil {
			res = "skipped: " + *p.Error
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", p.Name, p.Matches, res)
	}
	tw.Flush()
	c := v.EndToEnd
	fmt.Fprintf(w, "\nend to end (%d → %d nodes, %d rows):\n", v.Nodes[0], v.Nodes[1], len(v.PromptIDs))
	if len(v.Dequantized) > 0 {
		fmt.Fprintf(w, "reference: the model before the passes with the %d quantized weights dequantized (quantization itself is lossy)\n", len(v.Dequantized))
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tpositions\tmax |Δ|\trelative\targmax")
	for _, s := range c.Steps {
		name := fmt.Sprint("decode ", s.Step)
		if s.Step == 0 {
			name = "prefill"
		}
		am := "same"
		if !s.ArgmaxOK {
			am = "DIFFERS"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3g\t%.3g\t%s\n", name, s.Positions, s.MaxAbsErr, s.RelErr, am)
	}
	tw.Flush()
	verdict := "OK"
	if !c.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "\n%s: worst relative error %.3g (tolerance %.3g)\n", verdict, c.RelErr, c.Tolerance)
}
