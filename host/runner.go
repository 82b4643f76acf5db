package host

import (
	"context"
	"errors"
	"fmt"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// Validator checks that one rewrite preserves what the graph computes, for
// example by evaluating the removed subgraph and its replacement on random
// inputs (package validate does so with the CPU runtime). before is the
// graph the whole patch applies to; rw is one of its rewrites. A non-nil
// error fails the pass (subject to its OnError policy).
type Validator interface {
	ValidateRewrite(ctx context.Context, before *graph.Graph, rw graph.Rewrite) error
}

// OnError says what a Runner does when a step fails.
type OnError int

const (
	// Fail stops the pipeline and returns the error.
	Fail OnError = iota
	// Skip records the error in the step's report and goes on with the
	// graph as it was before the step.
	Skip
)

// String returns "fail" or "skip", as in pipeline.yaml.
func (o OnError) String() string {
	switch o {
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("OnError(%d)", int(o))
}

// ParseOnError parses "fail" (or "") and "skip".
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "", "fail":
		return Fail, nil
	case "skip":
		return Skip, nil
	}
	return Fail, fmt.Errorf("on_error must be fail or skip, got %q", s)
}

// Step is one pass of a pipeline with its options.
type Step struct {
	Pass    *Pass
	Options string // a JSON object; "" means "{}"
	OnError OnError
}

// Report tells what one step did.
type Report struct {
	Pass        string     `json:"pass"`
	Version     string     `json:"version"`
	File        string     `json:"file"`
	Matches     int        `json:"matches"` // rewrites applied (len(Patch.Rewrites))
	Reasons     []string   `json:"reasons,omitempty"`
	Notes       []abi.Note `json:"notes,omitempty"`
	NodesBefore int        `json:"nodes_before"`
	NodesAfter  int        `json:"nodes_after"`
	Duration    Timing     `json:"duration"`
	Log         []string   `json:"log,omitempty"`
	Skipped     bool       `json:"skipped,omitempty"` // failed with OnError Skip: the graph is unchanged
	Err         error      `json:"-"`
	Error       string     `json:"error,omitempty"` // Err's message
}

// Runner runs pipelines of passes. The zero value is ready to use.
type Runner struct {
	// Validator, when set, checks every rewrite of every pass.
	Validator Validator
}

// Run runs steps over g with a zero Runner.
func Run(ctx context.Context, g *graph.Graph, steps []Step) (*graph.Graph, []Report, error) {
	return (&Runner{}).Run(ctx, g, steps)
}

// Run applies the steps in order and returns the rewritten graph and one
// report per step run. g is never modified. When a step with OnError Fail
// fails, Run returns nil, the reports so far (the last one failed) and the
// step's *Error. A cancelled ctx stops the pipeline whatever the policy.
func (r *Runner) Run(ctx context.Context, g *graph.Graph, steps []Step) (*graph.Graph, []Report, error) {
	if err := graph.Verify(g); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidGraph, err)
	}
	cur := g
	var reports []Report
	for _, st := range steps {
		if st.Pass == nil {
			return nil, reports, errors.New("host: step without a pass")
		}
		rep := Report{Pass: st.Pass.Name(), Version: st.Pass.info.Version, File: st.Pass.File(), NodesBefore: cur.NumNodes()}
		res, err := st.Pass.exec(ctx, cur, st.Options, r.Validator)
		if res != nil {
			rep.Duration = res.Timing
			rep.Log = res.Log
			rep.Notes = res.Notes
		}
		if err != nil {
			rep.Err, rep.Error = err, err.Error()
			rep.NodesAfter = rep.NodesBefore
			if ctx.Err() != nil || st.OnError != Skip {
				reports = append(reports, rep)
				return nil, reports, err
			}
			rep.Skipped = true
			reports = append(reports, rep)
			continue
		}
		rep.Matches = len(res.Patch.Rewrites)
		for _, rw := range res.Patch.Rewrites {
			rep.Reasons = append(rep.Reasons, rw.Reason)
		}
		cur = res.Graph
		rep.NodesAfter = cur.NumNodes()
		reports = append(reports, rep)
	}
	if cur == g {
		cur = g.Clone() // callers may modify the result; keep g theirs
	}
	return cur, reports, nil
}
