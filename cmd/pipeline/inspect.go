package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/pipeline"
)

// graphFlags choose the shape of the built graph (model.BuildOptions).
type graphFlags struct {
	merged, attentions, hidden, expandKV bool
}

func (f *graphFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.merged, "merged-decoder", false, "build a merged decoder (If(use_cache_branch) around cache updates)")
	cmd.Flags().BoolVar(&f.attentions, "attention-outputs", false, "build attentions.<i> outputs")
	cmd.Flags().BoolVar(&f.hidden, "hidden-states", false, "build hidden_states.<i> outputs")
	cmd.Flags().BoolVar(&f.expandKV, "expand-kv-before-cache", false, "repeat GQA heads before the cache concat")
}

func (f *graphFlags) apply(s *pipeline.Spec) {
	s.Graph.MergedDecoder = s.Graph.MergedDecoder || f.merged
	s.Graph.AttentionOutputs = s.Graph.AttentionOutputs || f.attentions
	s.Graph.HiddenStates = s.Graph.HiddenStates || f.hidden
	s.Graph.ExpandKVBeforeCache = s.Graph.ExpandKVBeforeCache || f.expandKV
}

type valueJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func valuesJSON(vs []graph.ValueInfo) []valueJSON {
	out := []valueJSON{}
	for _, v := range vs {
		out = append(out, valueJSON{v.Name, v.Type.String()})
	}
	return out
}

func init() {
	var mf modelFlags
	var gf graphFlags
	var asJSON, dot, svg, verbose bool
	var output string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show a model's graph, before or after passes: op counts, I/O, what each pass did",
		Long: `Inspect builds the model's graph and, with --pass/--passes (or a --pipeline
file), runs passes over it. It prints a summary; --json prints one object
{"nodes", "ops", "passes": [{"name", "matches", "error"}], ...}; --dot writes
the graph in Graphviz DOT and --svg renders it with Graphviz's dot command.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			if n := btoi(asJSON) + btoi(dot) + btoi(svg); n > 1 {
				return usagef("give one of --json, --dot, --svg")
			}
			s, err := mf.spec(cmd)
			if err != nil {
				return err
			}
			gf.apply(s)
			var dotPath string
			if svg {
				if dotPath, err = exec.LookPath("dot"); err != nil {
					return errors.New("--svg needs Graphviz's dot command, which is not installed (e.g. apt-get install graphviz, brew install graphviz); --dot writes the DOT source instead")
				}
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			defer func() { retErr = interrupted(ctx, retErr) }()
			opts := pipeline.Options{Progress: newProgressBars(cmd, asJSON || dot || svg).report}
			if verbose {
				opts.Log = cmd.ErrOrStderr()
			}
			p, err := pipeline.Prepare(ctx, s, opts)
			if err != nil {
				return err
			}
			defer p.Close()

			out := cmd.OutOrStdout()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			switch {
			case dot:
				return graph.WriteDOT(out, p.Graph)
			case svg:
				var src bytes.Buffer
				if err := graph.WriteDOT(&src, p.Graph); err != nil {
					return err
				}
				c := exec.CommandContext(ctx, dotPath, "-Tsvg")
				c.Stdin, c.Stdout = &src, out
				var stderr bytes.Buffer
				c.Stderr = &stderr
				if err := c.Run(); err != nil {
					return fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(stderr.String()))
				}
				return nil
			}
			info := inspectInfo(p)
			if asJSON {
				return emitJSON(out, info)
			}
			printInspect(out, info)
			return nil
		},
	}
	mf.register(cmd, "none")
	gf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&dot, "dot", false, "write the graph in Graphviz DOT form")
	cmd.Flags().BoolVar(&svg, "svg", false, "render the graph as SVG with Graphviz's dot")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show pass logs on stderr")
	root.AddCommand(cmd)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type inspectJSON struct {
	Model        string            `json:"model"`
	Architecture string            `json:"architecture"`
	Nodes        int               `json:"nodes"`
	Ops          map[string]int    `json:"ops"`
	NodesBefore  int               `json:"nodes_before"`
	OpsBefore    map[string]int    `json:"ops_before"`
	Inputs       []valueJSON       `json:"inputs"`
	Outputs      []valueJSON       `json:"outputs"`
	Initializers int               `json:"initializers"`
	WeightBytes  int64             `json:"weight_bytes"`
	Passes       []passSummary     `json:"passes"`
	Metadata     map[string]string `json:"metadata"`
}

func inspectInfo(p *pipeline.Prepared) *inspectJSON {
	g := p.Graph
	info := &inspectJSON{
		Model: p.ModelDir, Architecture: g.Metadata[graph.MetaArchitecture],
		Nodes: g.NumNodes(), Ops: g.OpCounts(), NodesBefore: p.Source.NumNodes(), OpsBefore: p.Source.OpCounts(),
		Inputs: valuesJSON(g.Inputs), Outputs: valuesJSON(g.Outputs), Initializers: len(g.Initializers),
		Passes: summarizePasses(p.Passes, p.Reports), Metadata: g.Metadata,
	}
	for _, in := range g.Initializers {
		info.WeightBytes += in.Type.ByteSize()
	}
	return info
}

func printInspect(w io.Writer, info *inspectJSON) {
	md := info.Metadata
	fmt.Fprintf(w, "model     %s\n", info.Model)
	fmt.Fprintf(w, "          %s: %s layers, hidden %s, heads %s/%s, vocab %s\n", info.Architecture,
		md[graph.MetaNumLayers], md[graph.MetaHiddenSize], md[graph.MetaNumHeads], md[graph.MetaNumKVHeads], md[graph.MetaVocabSize])
	if len(info.Passes) > 0 {
		fmt.Fprintf(w, "graph     %d nodes as built, %d after %d passes\n", info.NodesBefore, info.Nodes, len(info.Passes))
	} else {
		fmt.Fprintf(w, "graph     %d nodes\n", info.Nodes)
	}
	fmt.Fprintf(w, "weights   %d initializers, %s\n", info.Initializers, humanBytes(info.WeightBytes))
	fmt.Fprintf(w, "inputs    %s\n", joinValues(info.Inputs))
	fmt.Fprintf(w, "outputs   %s\n", joinValues(info.Outputs))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(info.Passes) > 0 {
		fmt.Fprintln(tw, "op\tbefore\tafter\t")
	} else {
		fmt.Fprintln(tw, "op\tcount\t")
	}
	ops := map[string]bool{}
	for op := range info.Ops {
		ops[op] = true
	}
	for op := range info.OpsBefore {
		ops[op] = true
	}
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	for _, op := range names {
		mark := ""
		if s, ok := graph.Lookup(op); ok && s.Fused {
			mark = "★ "
		}
		if len(info.Passes) > 0 {
			fmt.Fprintf(tw, "%s%s\t%d\t%d\t\n", mark, op, info.OpsBefore[op], info.Ops[op])
		} else {
			fmt.Fprintf(tw, "%s%s\t%d\t\n", mark, op, info.Ops[op])
		}
	}
	tw.Flush()
	if len(info.Passes) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "pass\tmatches\tms\tresult")
	for _, p := range info.Passes {
		result := "ok"
		switch {
		case p.Error != nil:
			result = "skipped: " + *p.Error
		case p.Matches == 0:
			result = "nothing to rewrite"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\n", p.Name, p.Matches, p.Millis, result)
		for _, n := range notesSummary(p.Notes) {
			fmt.Fprintf(tw, "\t\t\t  note: %s\n", n)
		}
	}
	tw.Flush()
}

// notesSummary folds repeated notes ("layer 3: sliding window" × 12) into
// one line each with a count.
func notesSummary(notes []passNote) []string {
	count := map[string]int{}
	var order []string
	for _, n := range notes {
		if count[n.Message] == 0 {
			order = append(order, n.Message)
		}
		count[n.Message]++
	}
	var out []string
	for _, m := range order {
		if count[m] > 1 {
			out = append(out, fmt.Sprintf("%s (×%d)", m, count[m]))
		} else {
			out = append(out, m)
		}
	}
	return out
}

func joinValues(vs []valueJSON) string {
	const max = 6
	var parts []string
	for i, v := range vs {
		if i == max {
			parts = append(parts, fmt.Sprintf("… %d more", len(vs)-max))
			break
		}
		parts = append(parts, v.Name+" "+v.Type)
	}
	return strings.Join(parts, ", ")
}

func humanBytes(n int64) string {
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
