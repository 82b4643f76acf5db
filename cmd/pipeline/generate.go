package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/pipeline"
)

// modelFlags choose the model and passes of commands that take no spec
// file (or override one).
type modelFlags struct {
	pipelineFile string
	model        string
	passes       string
	pass         []string
	only         string
	onError      string
	verify       string
}

func (f *modelFlags) register(cmd *cobra.Command, defaultPasses string) {
	cmd.Flags().StringVar(&f.pipelineFile, "pipeline", "", "start from this pipeline.yaml (flags override it)")
	cmd.Flags().StringVar(&f.model, "model", "", "Hugging Face checkpoint directory (default: the bundled model)")
	cmd.Flags().StringVar(&f.passes, "passes", defaultPasses, `passes to run: "none", "default", or a comma-separated list of built-in names, "default" and .wasm paths`)
	cmd.Flags().StringArrayVar(&f.pass, "pass", nil, "add a pass (built-in name or .wasm path) after --passes; repeatable")
	cmd.Flags().StringVar(&f.only, "only", "", "comma-separated subset of the default passes (native_attention implies if_present)")
	cmd.Flags().StringVar(&f.onError, "on-error", "", "what a failing pass does: fail (stop) or skip (keep the graph, go on)")
	cmd.Flags().StringVar(&f.verify, "verify", "", "verification: none, structural or numeric")
}

// spec builds the spec: --pipeline (or the defaults), then the flags.
func (f *modelFlags) spec(cmd *cobra.Command) (*pipeline.Spec, error) {
	var s *pipeline.Spec
	if f.pipelineFile != "" {
		var err error
		if s, err = pipeline.ReadFile(f.pipelineFile); err != nil {
			return nil, err
		}
	} else {
		var err error
		if s, err = pipeline.Parse(nil, "."); err != nil {
			return nil, err
		}
	}
	if f.model != "" {
		s.Model = absPath(f.model)
	}
	onError := pipeline.OnError("")
	switch f.onError {
	case "":
	case "fail", "skip":
		onError = pipeline.OnError(f.onError)
	default:
		return nil, usagef("--on-error: %q is not fail or skip", f.onError)
	}
	if f.pipelineFile == "" || cmd.Flags().Changed("passes") {
		ps, err := parsePassList(f.passes)
		if err != nil {
			return nil, err
		}
		s.Passes = ps
	}
	for _, p := range f.pass {
		ps, err := parsePassList(p)
		if err != nil {
			return nil, err
		}
		s.Passes = append(s.Passes, ps...)
	}
	if f.only != "" {
		s.Only = splitList(f.only)
	}
	for i := range s.Passes {
		if onError != "" {
			s.Passes[i].OnError = onError
		} else if s.Passes[i].OnError == "" {
			s.Passes[i].OnError = pipeline.OnErrorFail
		}
	}
	switch f.verify {
	case "":
	case "none", "structural", "numeric":
		s.Verify = pipeline.VerifyMode(f.verify)
	default:
		return nil, usagef("--verify: %q is not none, structural or numeric", f.verify)
	}
	return s, nil
}

// parsePassList parses "none", "default" or "a,b,x.wasm".
func parsePassList(v string) ([]pipeline.PassSpec, error) {
	switch strings.TrimSpace(v) {
	case "none", "":
		return []pipeline.PassSpec{}, nil
	}
	var out []pipeline.PassSpec
	for _, name := range splitList(v) {
		switch {
		case name == "default":
			out = append(out, pipeline.PassSpec{Defaults: true})
		case strings.HasSuffix(name, ".wasm") || strings.ContainsAny(name, `/\`):
			out = append(out, pipeline.PassSpec{Path: absPath(name)})
		default:
			out = append(out, pipeline.PassSpec{Name: name})
		}
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseIDs parses "1,2,3" (one row) or "1,2;3,4" (rows separated by ';').
func parseIDs(v string) ([][]int32, error) {
	var rows [][]int32
	for _, r := range strings.Split(v, ";") {
		var row []int32
		for _, f := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' }) {
			n, err := strconv.ParseInt(f, 10, 32)
			if err != nil || n < 0 {
				return nil, usagef("--ids: %q is not a token id", f)
			}
			row = append(row, int32(n))
		}
		if len(row) == 0 {
			return nil, usagef("--ids: empty row in %q", v)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func init() {
	var mf modelFlags
	var sf specFlags
	var (
		ids, system                         string
		chat, ignoreEOS, asJSON, quiet      bool
		doSample, greedy                    bool
		temperature, topP, minP, repetition float64
		topK                                int
		seed                                uint64
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate tokens from a prompt or token ids with a rewritten model",
		Long: `Generate rewrites the model's graph (default passes unless --passes says
otherwise), loads it on a runtime (default: the embedded cpu plugin) and
generates from --prompt (tokenized with the model's tokenizer; --chat applies
its chat template) or --ids ("1,2,3"; rows separated by ';' decode as a batch).
Sampling follows the model's generation_config.json unless flags override it;
rows stop at its EOS ids (if it names any) unless --ignore-eos.

With --json it prints one object: {"prompt_ids", "new_ids", "text", "finish",
...}; a single row gives flat id lists, a batch gives one list per row.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			s, err := mf.spec(cmd)
			if err != nil {
				return err
			}
			if err := sf.apply(cmd, s); err != nil {
				return err
			}
			g := &s.Generate
			if ids != "" {
				if sf.prompt != "" {
					return usagef("give --ids or --prompt, not both")
				}
				if g.IDs, err = parseIDs(ids); err != nil {
					return err
				}
				g.Prompt = ""
			}
			if cmd.Flags().Changed("chat") {
				g.Chat = chat
			}
			if system != "" {
				g.System = system
			}
			if g.Chat && len(g.IDs) > 0 {
				return usagef("--chat renders a --prompt, not --ids")
			}
			if g.System != "" && !g.Chat {
				return usagef("--system needs --chat")
			}
			if cmd.Flags().Changed("ignore-eos") {
				g.IgnoreEOS = ignoreEOS
			}
			if doSample && greedy {
				return usagef("give --do-sample or --greedy, not both")
			}
			sm := &g.Sampling
			if doSample || greedy {
				v := doSample
				sm.DoSample = &v
			}
			fl := cmd.Flags()
			if fl.Changed("temperature") {
				sm.Temperature = &temperature
			}
			if fl.Changed("top-k") {
				sm.TopK = &topK
			}
			if fl.Changed("top-p") {
				sm.TopP = &topP
			}
			if fl.Changed("min-p") {
				sm.MinP = &minP
			}
			if fl.Changed("repetition-penalty") {
				sm.RepetitionPenalty = &repetition
			}
			if fl.Changed("seed") {
				sm.Seed = &seed
			}
			if g.Prompt == "" && len(g.IDs) == 0 && !g.Chat {
				return usagef("give --prompt TEXT or --ids 1,2,3")
			}

			ctx, stop := signalContext(cmd)
			defer stop()
			defer func() { retErr = interrupted(ctx, retErr) }()
			bars := newProgressBars(cmd, quiet || asJSON)
			opts := sf.options(cmd, bars)
			r, err := runSpec(ctx, cmd, s, opts, bars, !asJSON && len(g.IDs) <= 1, false)
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), generateJSON(r.rep, r.gen))
			}
			r.print(cmd, quiet)
			return nil
		},
	}
	mf.register(cmd, "default")
	sf.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&ids, "ids", "", `prompt token ids: "1,2,3", or rows "1,2;3,4" decoded as a batch`)
	f.BoolVar(&chat, "chat", false, "render --prompt with the model's chat template (one user turn)")
	f.StringVar(&system, "system", "", "system message before the prompt (with --chat)")
	f.BoolVar(&ignoreEOS, "ignore-eos", false, "do not stop at end-of-sequence tokens")
	f.BoolVar(&doSample, "do-sample", false, "sample (temperature 1 unless set) even if the model's generation config is greedy")
	f.BoolVar(&greedy, "greedy", false, "always pick the most likely token, whatever the generation config says")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature; 0 = greedy")
	f.IntVar(&topK, "top-k", 0, "keep the k most likely tokens; 0 = off")
	f.Float64Var(&topP, "top-p", 0, "nucleus sampling mass; 0 or 1 = off")
	f.Float64Var(&minP, "min-p", 0, "drop tokens less likely than min-p × the most likely; 0 = off")
	f.Float64Var(&repetition, "repetition-penalty", 0, "penalise tokens already in the sequence; 1 = off")
	f.Uint64Var(&seed, "seed", 0, "random seed of sampling (row r uses seed+r)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bars and no report")
	root.AddCommand(cmd)
}

// generateJSON shapes generate's JSON: flat id lists for one row.
func generateJSON(r *runReport, gen *pipeline.Generation) map[string]any {
	out := map[string]any{
		"runtime":          r.Runtime,
		"passes":           r.Passes,
		"nodes":            r.Nodes,
		"timings_ms":       r.Timings,
		"decode_tok_per_s": r.TokPerSec,
		"rows":             len(gen.PromptIDs),
	}
	if gen.Prompt != "" {
		out["prompt"] = gen.Prompt
	}
	if len(gen.PromptIDs) == 1 {
		out["prompt_ids"] = nonNil(gen.PromptIDs[0])
		out["new_ids"] = nonNil(gen.NewIDs[0])
		out["finish"] = r.Finish[0]
		if gen.Text != nil {
			out["text"] = gen.Text[0]
		}
		return out
	}
	out["prompt_ids"] = gen.PromptIDs
	out["new_ids"] = gen.NewIDs
	out["finish"] = r.Finish
	if gen.Text != nil {
		out["text"] = gen.Text
	}
	return out
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}
