package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/models"
	"github.com/graphpass/graphpass/pipeline"
)

// specFlags are the flags that override a pipeline spec, shared by the
// commands that take one.
type specFlags struct {
	runtime      string
	prompt       string
	maxNewTokens int
	verbose      bool
}

func (f *specFlags) register(cmd *cobra.Command, withGenerate bool) {
	cmd.Flags().StringVar(&f.runtime, "runtime", "", "runtime: inproc, cpu, cuda, metal, or a plugin executable's path (overrides the spec)")
	if withGenerate {
		cmd.Flags().StringVar(&f.prompt, "prompt", "", "prompt text (overrides the spec)")
		cmd.Flags().IntVar(&f.maxNewTokens, "max-new-tokens", 0, "new tokens per row (overrides the spec)")
	}
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "show runtime plugin and pass logs on stderr")
}

// apply changes the spec as the flags say.
func (f *specFlags) apply(cmd *cobra.Command, s *pipeline.Spec) error {
	if f.runtime != "" {
		rs, err := runtimeFlag(f.runtime)
		if err != nil {
			return err
		}
		rs.PluginDirs = s.Runtime.PluginDirs
		s.Runtime = rs
	}
	if f.prompt != "" {
		s.Generate.Prompt, s.Generate.IDs = f.prompt, nil
	}
	if cmd.Flags().Changed("max-new-tokens") {
		if f.maxNewTokens <= 0 {
			return usagef("--max-new-tokens must be positive, got %d", f.maxNewTokens)
		}
		s.Generate.MaxNewTokens = f.maxNewTokens
	}
	return nil
}

// runtimeFlag parses --runtime: a name or a path.
func runtimeFlag(v string) (pipeline.RuntimeSpec, error) {
	s, err := pipeline.Parse([]byte("runtime: "+yamlQuote(v)+"\n"), ".")
	if err != nil {
		var se *pipeline.SpecError
		if ok := asSpecError(err, &se); ok {
			return pipeline.RuntimeSpec{}, usagef("--runtime: %s", strings.TrimPrefix(se.Msg, "runtime: "))
		}
		return pipeline.RuntimeSpec{}, usagef("--runtime: %v", err)
	}
	return s.Runtime, nil
}

func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func (f *specFlags) options(cmd *cobra.Command, bars *progressBars) pipeline.Options {
	o := pipeline.Options{Progress: bars.report}
	if f.verbose {
		o.Log = cmd.ErrOrStderr()
	}
	return o
}

func init() {
	var flags specFlags
	var asJSON, quiet bool
	var modelDir string
	cmd := &cobra.Command{
		Use:   "run [pipeline.yaml]",
		Short: "Run a pipeline: rewrite the model's graph, load it on a runtime, generate",
		Long: `Run reads a pipeline spec (without one: the built-in examples/default.yaml —
the bundled model, the default passes, the embedded cpu runtime plugin), rewrites
the model's graph with the spec's passes, loads it on the runtime and generates
from the spec's prompt. The text streams to stdout; a short report (passes,
runtime, speed) follows on stderr.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			spec := pipeline.Default()
			if len(args) == 1 {
				s, err := pipeline.ReadFile(args[0])
				if err != nil {
					return err
				}
				spec = s
			}
			if err := flags.apply(cmd, spec); err != nil {
				return err
			}
			if modelDir != "" {
				abs, err := filepath.Abs(modelDir)
				if err != nil {
					return usagef("--model: %v", err)
				}
				spec.Model = abs
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			defer func() { retErr = interrupted(ctx, retErr) }()
			bars := newProgressBars(cmd, quiet || asJSON)
			opts := flags.options(cmd, bars)

			// A batch prints row by row at the end; one row streams.
			stream := !asJSON && len(spec.Generate.IDs) <= 1
			echo := spec.Generate.Prompt != "" && !spec.Generate.Chat
			r, err := runSpec(ctx, cmd, spec, opts, bars, stream, echo)
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), r.rep)
			}
			r.print(cmd, quiet)
			return nil
		},
	}
	flags.register(cmd, true)
	cmd.Flags().StringVar(&modelDir, "model", "", "checkpoint directory to run instead of the spec's model (Hugging Face or MLX layout)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (text, ids, report) instead of streaming text")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bars and no report")
	root.AddCommand(cmd)
}

// runReport is what run tells about a run, as text or JSON.
type runReport struct {
	Spec      string               `json:"spec"`
	Model     string               `json:"model"`
	Arch      string               `json:"architecture"`
	Bundled   bool                 `json:"bundled_model"`
	Passes    []passSummary        `json:"passes"`
	Nodes     [2]int               `json:"nodes"` // before, after the passes
	Runtime   pipeline.RuntimeInfo `json:"runtime"`
	PromptIDs [][]int32            `json:"prompt_ids"`
	NewIDs    [][]int32            `json:"new_ids"`
	Text      []string             `json:"text,omitempty"`
	Finish    []string             `json:"finish"`
	Timings   runTimings           `json:"timings_ms"`
	TokPerSec float64              `json:"decode_tok_per_s"`
	InPlugin  bool                 `json:"sampled_in_plugin"`
	Stats     backend.Stats        `json:"runtime_stats"`
}

type runTimings struct {
	LoadModel   float64 `json:"load_model"`
	BuildGraph  float64 `json:"build_graph"`
	LoadPasses  float64 `json:"load_passes"`
	RunPasses   float64 `json:"run_passes"`
	Materialize float64 `json:"materialize"`
	Runtime     float64 `json:"start_runtime"`
	LoadGraph   float64 `json:"load_graph"`
	Prefill     float64 `json:"prefill"`
	Decode      float64 `json:"decode"`
	Generate    float64 `json:"generate"`
}

// passSummary is one pass's line of a report.
type passSummary struct {
	Name    string     `json:"name"`
	Version string     `json:"version,omitempty"`
	File    string     `json:"file,omitempty"`
	Matches int        `json:"matches"`
	Notes   []passNote `json:"notes,omitempty"`
	Error   *string    `json:"error"`
	Skipped bool       `json:"skipped,omitempty"`
	// SkipReason says why a pass did not run: no trigger op in the graph,
	// or a failure under on_error: skip.
	SkipReason string  `json:"skip_reason,omitempty"`
	Millis     float64 `json:"ms"`
}

type passNote struct {
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
}

func summarizePasses(resolved []pipeline.ResolvedPass, reports []host.Report) []passSummary {
	out := []passSummary{}
	for i, r := range reports {
		s := passSummary{Name: r.Pass, Version: r.Version, Matches: r.Matches, Skipped: r.Skipped, SkipReason: r.SkipReason, Millis: ms(r.Duration.Total())}
		if i < len(resolved) && !resolved[i].Builtin {
			s.File = resolved[i].Path
		}
		for _, n := range r.Notes {
			s.Notes = append(s.Notes, passNote{Node: n.Node, Message: n.Message})
		}
		if r.Error != "" {
			e := r.Error
			s.Error = &e
		}
		out = append(out, s)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newRunReport(p *pipeline.Prepared, info pipeline.RuntimeInfo, gen *pipeline.Generation, loadTime time.Duration) *runReport {
	r := &runReport{
		Spec: p.Spec.File, Model: p.ModelDir, Arch: p.Source.Metadata["architecture"], Bundled: p.Spec.Model == "",
		Passes: summarizePasses(p.Passes, p.Reports), Nodes: [2]int{p.Source.NumNodes(), p.Graph.NumNodes()},
		Runtime: info, PromptIDs: gen.PromptIDs, NewIDs: gen.NewIDs, Text: gen.Text, InPlugin: gen.InPlugin, Stats: gen.Stats,
	}
	for _, f := range gen.Finish {
		r.Finish = append(r.Finish, string(f))
	}
	t := p.Timings
	r.Timings = runTimings{LoadModel: ms(t.LoadModel), BuildGraph: ms(t.BuildGraph), LoadPasses: ms(t.LoadPasses), RunPasses: ms(t.RunPasses),
		Materialize: ms(t.Materialize), Runtime: info.StartMillis, LoadGraph: ms(loadTime),
		Prefill: ms(gen.Result.PrefillTime), Decode: ms(gen.Result.DecodeTime), Generate: ms(gen.Wall)}
	r.TokPerSec = gen.Result.DecodeTokensPerSecond()
	return r
}

func (r *runReport) print(w io.Writer) {
	fmt.Fprintln(w)
	name := filepath.Base(r.Model)
	if r.Bundled {
		name = models.DefaultName + " (bundled)"
	}
	fmt.Fprintf(w, "model    %s, %s\n", name, r.Arch)
	var parts []string
	matched, untriggered := 0, 0
	for _, p := range r.Passes {
		switch {
		case p.Error != nil:
			parts = append(parts, p.Name+" skipped: "+*p.Error)
		case p.Skipped:
			untriggered++ // nothing it rewrites is in the graph
		case p.Matches > 0:
			parts = append(parts, fmt.Sprintf("%s ×%d", p.Name, p.Matches))
			matched++
		}
	}
	if len(r.Passes) == 0 {
		fmt.Fprintf(w, "passes   none; graph %d nodes\n", r.Nodes[0])
	} else {
		fmt.Fprintf(w, "passes   %d run (%d had nothing to match), %d rewrote: %s; graph %d → %d nodes (load modules %.0f ms, run %.0f ms)\n",
			len(r.Passes)-untriggered, untriggered, matched, strings.Join(parts, ", "), r.Nodes[0], r.Nodes[1], r.Timings.LoadPasses, r.Timings.RunPasses)
	}
	where := r.Runtime.Kind
	if r.Runtime.Kind == "plugin" {
		where = fmt.Sprintf("plugin, %s, pid %d", r.Runtime.Source, r.Runtime.PID)
	}
	fmt.Fprintf(w, "runtime  %s (%s) on %s\n", r.Runtime.Name, where, r.Runtime.Device)
	n := 0
	for _, ids := range r.NewIDs {
		n += len(ids)
	}
	prompt := 0
	for _, ids := range r.PromptIDs {
		prompt += len(ids)
	}
	fmt.Fprintf(w, "speed    prefill %d tokens in %.1f ms, decode %.1f tok/s (%d tokens, %s)\n",
		prompt, r.Timings.Prefill, r.TokPerSec, n, strings.Join(uniq(r.Finish), "/"))
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, " ")
}

// specRun is a spec run to the end: its report and its generation.
type specRun struct {
	rep      *runReport
	gen      *pipeline.Generation
	streamed bool // the text went to stdout as it came
}

// runSpec runs a spec the way run and generate both do: the runtime first
// (a missing or broken plugin fails at once, and it starts while the passes
// run), then the passes, the load, and the generation, with the text
// streamed to stdout when stream is set (after the prompt, when echo is).
func runSpec(ctx context.Context, cmd *cobra.Command, spec *pipeline.Spec, opts pipeline.Options, bars *progressBars, stream, echo bool) (*specRun, error) {
	rt, info, err := pipeline.OpenRuntime(ctx, spec.Runtime, opts)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	p, err := pipeline.Prepare(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	m, loadTime, err := p.Load(ctx, rt)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	out := cmd.OutOrStdout()
	r := &specRun{}
	gopts := pipeline.GenerateOptions{}
	if stream {
		gopts.OnText = func(row int, text string) error {
			if !r.streamed {
				bars.pause()
				bars.enabled = false // the text owns the terminal now
				if echo {
					fmt.Fprint(out, spec.Generate.Prompt)
				}
				r.streamed = true
			}
			_, err := io.WriteString(out, text)
			return err
		}
	}
	gen, err := p.Generate(ctx, m, gopts)
	if err != nil {
		if r.streamed {
			fmt.Fprintln(out)
		}
		return nil, err
	}
	r.gen, r.rep = gen, newRunReport(p, info, gen, loadTime)
	return r, nil
}

// print ends the streamed text, or prints each row's text (or ids), then
// the report on stderr unless quiet.
func (r *specRun) print(cmd *cobra.Command, quiet bool) {
	out := cmd.OutOrStdout()
	switch {
	case r.streamed:
		fmt.Fprintln(out)
	case r.gen.Text != nil:
		for _, t := range r.gen.Text {
			fmt.Fprintln(out, t)
		}
	default:
		for _, ids := range r.gen.NewIDs {
			fmt.Fprintln(out, joinIDs(ids))
		}
	}
	if !quiet {
		r.rep.print(cmd.ErrOrStderr())
	}
}
