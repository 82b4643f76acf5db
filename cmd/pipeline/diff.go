package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphpass/graphpass/pipeline"
)

// opDelta is how many nodes of one op a pass added (>0) or removed (<0).
type opDelta struct {
	Op    string `json:"op"`
	Delta int    `json:"delta"`
}

type passDiff struct {
	passSummary
	NodesBefore int       `json:"nodes_before"`
	NodesAfter  int       `json:"nodes_after"`
	Added       []opDelta `json:"added"`
	Removed     []opDelta `json:"removed"`
}

type diffJSON struct {
	Model       string         `json:"model"`
	NodesBefore int            `json:"nodes_before"`
	NodesAfter  int            `json:"nodes_after"`
	Passes      []passDiff     `json:"passes"`
	Ops         []opCountsJSON `json:"ops"`
}

type opCountsJSON struct {
	Op     string `json:"op"`
	Before int    `json:"before"`
	After  int    `json:"after"`
}

func deltas(before, after map[string]int) (added, removed []opDelta) {
	ops := map[string]bool{}
	for op := range before {
		ops[op] = true
	}
	for op := range after {
		ops[op] = true
	}
	added, removed = []opDelta{}, []opDelta{}
	for op := range ops {
		switch d := after[op] - before[op]; {
		case d > 0:
			added = append(added, opDelta{op, d})
		case d < 0:
			removed = append(removed, opDelta{op, d})
		}
	}
	byOp := func(s []opDelta) { sort.Slice(s, func(i, j int) bool { return s[i].Op < s[j].Op }) }
	byOp(added)
	byOp(removed)
	return added, removed
}

func newDiff(p *pipeline.Prepared) *diffJSON {
	d := &diffJSON{Model: p.ModelDir, NodesBefore: p.Source.NumNodes(), NodesAfter: p.Graph.NumNodes(), Passes: []passDiff{}, Ops: []opCountsJSON{}}
	sums := summarizePasses(p.Passes, p.Reports)
	prev := p.Source.OpCounts()
	for i, r := range p.Reports {
		pd := passDiff{passSummary: sums[i], NodesBefore: r.NodesBefore, NodesAfter: r.NodesAfter}
		after := prev
		if i < len(p.StepOps) {
			after = p.StepOps[i]
		}
		pd.Added, pd.Removed = deltas(prev, after)
		prev = after
		d.Passes = append(d.Passes, pd)
	}
	before, after := p.Source.OpCounts(), p.Graph.OpCounts()
	ops := map[string]bool{}
	for op := range before {
		ops[op] = true
	}
	for op := range after {
		ops[op] = true
	}
	for op := range ops {
		d.Ops = append(d.Ops, opCountsJSON{op, before[op], after[op]})
	}
	sort.Slice(d.Ops, func(i, j int) bool { return d.Ops[i].Op < d.Ops[j].Op })
	return d
}

func formatDeltas(ds []opDelta) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%+d %s", d.Delta, d.Op))
	}
	return strings.Join(parts, ", ")
}

func (d *diffJSON) print(w io.Writer) {
	fmt.Fprintf(w, "model %s: %d → %d nodes\n\n", d.Model, d.NodesBefore, d.NodesAfter)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "pass\tmatches\tnodes\tadded\tremoved")
	for _, p := range d.Passes {
		if p.Error != nil {
			fmt.Fprintf(tw, "%s\t-\t%d\tskipped: %s\t\n", p.Name, p.NodesBefore, *p.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d → %d\t%s\t%s\n", p.Name, p.Matches, p.NodesBefore, p.NodesAfter, formatDeltas(p.Added), formatDeltas(p.Removed))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "op\tbefore\tafter\t")
	for _, o := range d.Ops {
		if o.Before == o.After {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\n", o.Op, o.Before, o.After, o.After-o.Before)
	}
	tw.Flush()
}

func init() {
	var mf modelFlags
	var gf graphFlags
	var asJSON, verbose bool
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what each pass changed: matches, node counts, ops added and removed",
		Long: `Diff builds the model's graph, runs the passes (default: the default passes,
or those of --pipeline) and shows, pass by pass, how many rewrites it made,
the node count before and after, and the ops it added and removed; then the
op counts that changed overall. With --json, one object.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) (retErr error) {
			s, err := mf.spec(cmd)
			if err != nil {
				return err
			}
			gf.apply(s)
			ctx, stop := signalContext(cmd)
			defer stop()
			defer func() { retErr = interrupted(ctx, retErr) }()
			opts := pipeline.Options{Progress: newProgressBars(cmd, asJSON).report}
			if verbose {
				opts.Log = cmd.ErrOrStderr()
			}
			p, err := pipeline.Prepare(ctx, s, opts)
			if err != nil {
				return err
			}
			defer p.Close()
			d := newDiff(p)
			if asJSON {
				return emitJSON(cmd.OutOrStdout(), d)
			}
			d.print(cmd.OutOrStdout())
			return nil
		},
	}
	mf.register(cmd, "default")
	gf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show pass logs on stderr")
	root.AddCommand(cmd)
}
