package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	// Skipped says the step left the graph unchanged without rewriting:
	// it failed with OnError Skip (Err is set), or it did not run because
	// the graph holds none of its trigger ops (see Pass.Triggered).
	Skipped    bool   `json:"skipped,omitempty"`
	SkipReason string `json:"skip_reason,omitempty"` // why, e.g. "no Dropout node in the graph"
	Err        error  `json:"-"`
	Error      string `json:"error,omitempty"` // Err's message
}

// Runner runs pipelines of passes. The zero value is ready to use.
type Runner struct {
	// Validator, when set, checks every rewrite of every pass.
	Validator Validator
	// RunUntriggered runs every step, even a pass whose trigger ops
	// (PassInfo.consumes) the graph does not hold. By default such a step
	// is skipped without instantiating its module, unless it has options
	// (which only running it checks).
	RunUntriggered bool
	// StepDone, when set, is called after each step (run, skipped or
	// failed) with its index in steps, its report and the graph after it,
	// which the callee must not modify. It serves progress output and
	// per-step statistics, so that a caller runs a whole pipeline in one
	// Run, which verifies the input once and infers and encodes each
	// version of the graph once for all the steps that see it.
	StepDone func(i int, rep Report, g *graph.Graph)
}

// noOptions reports whether options is "" or an empty JSON object.
func noOptions(options string) bool {
	s := strings.TrimSpace(options)
	if s == "" {
		return true
	}
	if s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	return strings.TrimSpace(s[1:len(s)-1]) == ""
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
	types, err := graph.VerifyTypes(g)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidGraph, err)
	}
	cur := g
	pr := preparedWithTypes(cur, types) // types, encoding, ops and node count of cur, shared by the steps that see it
	var reports []Report
	done := func(i int, rep Report) {
		reports = append(reports, rep)
		if r.StepDone != nil {
			r.StepDone(i, rep, cur)
		}
	}
	for i, st := range steps {
		if st.Pass == nil {
			return nil, reports, errors.New("host: step without a pass")
		}
		rep := Report{Pass: st.Pass.Name(), Version: st.Pass.info.Version, File: st.Pass.File(), NodesBefore: pr.numNodes()}
		if !r.RunUntriggered && noOptions(st.Options) {
			if ok, why := st.Pass.triggered(pr); !ok {
				if err := ctx.Err(); err != nil {
					return nil, reports, err
				}
				rep.Skipped, rep.SkipReason = true, why
				rep.NodesAfter = rep.NodesBefore
				done(i, rep)
				continue
			}
		}
		res, err := st.Pass.execPrepared(ctx, pr, st.Options, r.Validator)
		if res != nil {
			rep.Duration = res.Timing
			rep.Log = res.Log
			rep.Notes = res.Notes
		}
		if err != nil {
			rep.Err, rep.Error = err, err.Error()
			rep.NodesAfter = rep.NodesBefore
			if ctx.Err() != nil || st.OnError != Skip {
				done(i, rep)
				return nil, reports, err
			}
			rep.Skipped, rep.SkipReason = true, "failed (on_error: skip)"
			done(i, rep)
			continue
		}
		rep.Matches = len(res.Patch.Rewrites)
		for _, rw := range res.Patch.Rewrites {
			rep.Reasons = append(rep.Reasons, rw.Reason)
		}
		if res.Graph != cur {
			pr = preparedWithTypes(res.Graph, res.types)
		}
		cur = res.Graph
		rep.NodesAfter = pr.numNodes()
		done(i, rep)
	}
	if cur == g {
		cur = g.Clone() // callers may modify the result; keep g theirs
	}
	return cur, reports, nil
}
