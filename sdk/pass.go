package sdk

import (
	"runtime"
	"slices"
	"strings"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// Pass is a graph rewrite as its author writes it: what it is called, what
// it does, its options and its rules. The same value runs natively (tests,
// Pass.Run) and inside a WebAssembly module (Main).
type Pass struct {
	Name        string // e.g. "rms_norm"; lower_snake_case
	Version     string // semantic version of the pass, e.g. "1.0.0"
	Description string // one line for `pipeline passes`
	// Options points to a struct holding the default options (see
	// DecodeOptions for the tags it may use), or is nil for a pass without
	// options. Rules read the decoded copy with Context.Options.
	Options any
	// Consumes lists the pass's trigger ops: every rewrite and every note
	// of the pass involves a node of one of them (for a pattern, an op all
	// its alternatives contain, e.g. "ReduceMean" for RMSNorm). A host skips
	// the pass, without running it, on a graph that holds none of them
	// (see Triggered and abi/SPEC.md). Leave it empty for a pass that must
	// always run; a list that misses an op the pass matches on loses those
	// matches.
	Consumes []string
	Produces []string // ops it emits, e.g. ["RMSNorm"]
	Rules    []Rule   // tried in order; each sees the graph as the pass received it
}

// Triggered reports whether g holds, at any depth, a node of one of the
// pass's trigger ops (Consumes), or Consumes is empty: whether a host runs
// the pass on g at all. A pass that is not triggered must find nothing.
func (p *Pass) Triggered(g *graph.Graph) bool {
	if len(p.Consumes) == 0 {
		return true
	}
	var has func(*graph.Graph) bool
	has = func(g *graph.Graph) bool {
		for _, n := range g.Nodes {
			if slices.Contains(p.Consumes, n.Op) {
				return true
			}
			for _, sg := range n.Subgraphs {
				if sg != nil && has(sg) {
					return true
				}
			}
		}
		return false
	}
	return has(g)
}

// Rule is one rewrite of a pass: either a Pattern with an optional Check
// and the Rewrite that builds the replacement, or a hand-written Func.
//
// For a pattern rule the engine visits nodes from the graph's outputs
// backwards (so the largest match claims a subgraph first), matches the
// pattern rooted at each node, skips matches that overlap an earlier
// rewrite, runs Check and then Rewrite. Rewrite normally removes only the
// root (Rewrite.Replace) and adds the fused node: Apply's dead-code
// elimination removes the rest of the match if nothing else reads it.
type Rule struct {
	Name    string
	Pattern *Pattern
	// Where is a condition on the whole match that the pattern cannot
	// state (e.g. two bound values differ); a match failing it is simply
	// not a match, with no note.
	Where func(m *Match) bool
	// Check is torch.fx's extra_check, for what the pattern cannot say. It
	// returns "" to accept the match, or why this match is deliberately not
	// rewritten; if no binding of the pattern passes, that reason becomes a
	// Note on the root node ("sliding window 4096: SDPA has no window").
	Check func(m *Match) string
	// Rewrite builds the replacement into rw. rw is committed when it
	// returns nil; rw.Skip(reason) abandons the match with a note instead.
	Rewrite func(m *Match, rw *Rewrite) error
	// Func is the escape hatch: match by hand over c.View() and commit
	// rewrites with c.NewRewrite / c.Commit. Used instead of Pattern.
	Func func(c *Context) error
}

// Note reports a match deliberately not rewritten, and why.
type Note struct {
	Node    string
	Message string
}

func (n Note) String() string { return n.Node + ": " + n.Message }

// Error codes of a failed run (PassError.code in ABI v1).
const (
	CodeInvalidOptions = abi.CodeInvalidOptions // options JSON does not fit the pass's options
	CodeInvalidGraph   = abi.CodeInvalidGraph   // the request's graph does not type-check
	CodeUnsupportedABI = abi.CodeUnsupportedABI // a request in an ABI version the SDK does not speak
	CodePanic          = abi.CodeInternal       // a rule panicked (a bug in the pass)
	CodeRuleFailed     = "rule_failed"          // a rule returned an error
)

// Error is a failed run: a code from the list above and a message.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Result is what a run produces: the patch (possibly empty) and notes.
type Result struct {
	Patch *graph.Patch
	Notes []Note
	Logs  []string // what the pass logged, "level: message"
}

// Run runs the pass on g natively. types holds the type of every value of
// g (as ABI v1 requests carry them); nil infers them. optionsJSON is the
// options object ("" means "{}"). A failed run returns an *Error.
func (p *Pass) Run(g *graph.Graph, types map[string]graph.TensorType, optionsJSON string) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &Error{Code: CodePanic, Message: Sprintf("pass %s panicked: %v\n%s", p.Name, r, trimStack(stack()))}
		}
	}()
	opts, err := DecodeOptions(p.Options, optionsJSON)
	if err != nil {
		return nil, &Error{Code: CodeInvalidOptions, Message: err.Error()}
	}
	view, err := NewView(g, types)
	if err != nil {
		return nil, &Error{Code: CodeInvalidGraph, Message: err.Error()}
	}
	c := newContext(p, view, opts)
	for i := range p.Rules {
		r := &p.Rules[i]
		if err := c.runRule(r); err != nil {
			if e, ok := err.(*Error); ok {
				return nil, e
			}
			return nil, &Error{Code: CodeRuleFailed, Message: Sprintf("rule %s: %v", ruleName(r, i), err)}
		}
	}
	return &Result{Patch: &graph.Patch{Rewrites: c.rewrites}, Notes: c.notes, Logs: c.logs}, nil
}

func ruleName(r *Rule, i int) string {
	if r.Name != "" {
		return r.Name
	}
	return Sprintf("#%d", i)
}

// stack is runtime/debug.Stack, without importing runtime/debug (which
// imports fmt and os into every module).
func stack() []byte {
	buf := make([]byte, 4096)
	for {
		n := runtime.Stack(buf, false)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// trimStack keeps the interesting frames of a panic's stack.
func trimStack(s []byte) string {
	lines := strings.Split(strings.TrimSpace(string(s)), "\n")
	if len(lines) > 24 {
		lines = lines[:24]
	}
	return strings.Join(lines, "\n")
}

// Info is what a pass declares about itself (ABI v1 PassInfo).
type Info struct {
	Name, Version, Description string
	OptionsSchemaJSON          string
	Consumes, Produces         []string
}

// Info returns the pass's declaration, with the JSON Schema of its options.
func (p *Pass) Info() Info {
	return Info{Name: p.Name, Version: p.Version, Description: p.Description,
		OptionsSchemaJSON: OptionsSchema(p.Options),
		Consumes:          append([]string(nil), p.Consumes...), Produces: append([]string(nil), p.Produces...)}
}

// Options returns the run's decoded options as *T (a copy of the defaults
// with the request's options applied). It panics if T is not the type of
// the pass's Options, a bug every test run catches.
func Options[T any](c *Context) *T { return c.options.(*T) }
