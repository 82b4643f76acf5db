package sdk

import (
	"slices"
	"strconv"

	"github.com/graphpass/graphpass/graph"
)

// Context is one run of a pass: the view of the graph, the decoded
// options, and the rewrites and notes collected so far.
type Context struct {
	pass     *Pass
	view     *View
	options  any
	rewrites []graph.Rewrite
	notes    []Note
	logs     []string
	claimed  map[*graph.Node]bool
	remapped map[string]string // committed remaps, From → To
	nodeName map[string]bool
	valName  map[string]bool
	compiled map[*Pattern]*compiled
}

func newContext(p *Pass, v *View, opts any) *Context {
	return &Context{pass: p, view: v, options: opts, claimed: map[*graph.Node]bool{},
		remapped: map[string]string{}, compiled: map[*Pattern]*compiled{}}
}

// names returns the sets of node and value names in use, built on first
// use (a run that rewrites nothing never needs them).
func (c *Context) names() (nodes, values map[string]bool) {
	if c.nodeName != nil {
		return c.nodeName, c.valName
	}
	g := c.view.Graph()
	c.nodeName = make(map[string]bool, len(g.Nodes))
	c.valName = make(map[string]bool, len(g.Nodes)+len(g.Inputs)+len(g.Initializers))
	for _, in := range g.Inputs {
		c.valName[in.Name] = true
	}
	for _, in := range g.Initializers {
		c.valName[in.Name] = true
	}
	var walk func(*graph.Graph)
	walk = func(g *graph.Graph) {
		for _, n := range g.Nodes {
			c.nodeName[n.Name] = true
			for _, o := range n.Outputs {
				c.valName[o] = true
			}
			for _, sg := range n.Subgraphs {
				for _, in := range sg.Initializers {
					c.valName[in.Name] = true
				}
				walk(sg)
			}
		}
	}
	walk(g)
	return c.nodeName, c.valName
}

// View returns the graph view.
func (c *Context) View() *View { return c.view }

// Pass returns the pass being run.
func (c *Context) Pass() *Pass { return c.pass }

// Options returns the decoded options (a pointer to a copy of the pass's
// Options struct), or nil for a pass without options. See also Options[T].
func (c *Context) Options() any { return c.options }

// Note records that node was deliberately not rewritten, and why.
func (c *Context) Note(node, format string, args ...any) {
	c.notes = append(c.notes, Note{Node: node, Message: Sprintf(format, args...)})
}

// Notes returns the notes so far.
func (c *Context) Notes() []Note { return c.notes }

// Log levels, as the host's graphpass.log import numbers them.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
)

// Logf logs a message at level (LevelDebug, LevelInfo, LevelWarn): to the
// host's log inside a module, to Result.Logs natively.
func (c *Context) Logf(level int, format string, args ...any) {
	msg := Sprintf(format, args...)
	c.logs = append(c.logs, levelName(level)+": "+msg)
	if logSink != nil {
		logSink(level, msg)
	}
}

// logSink forwards log lines to the host (set by the wasm glue).
var logSink func(level int, msg string)

func levelName(level int) string {
	switch level {
	case LevelDebug:
		return "debug"
	case LevelWarn:
		return "warn"
	}
	return "info"
}

// Claimed reports whether n is removed, or dies, by a rewrite committed
// earlier in this run. A match that overlaps claimed nodes must not fire.
func (c *Context) Claimed(n *graph.Node) bool { return c.claimed[n] }

// Resolve returns the value that stands for v once the rewrites committed
// so far are applied (following their remaps). Rewrites themselves name
// values as the graph the pass received does: graph.Apply composes remaps
// (a later rewrite may remove a value an earlier one remapped to, as in
// Dropout(Dropout(x))) and keeps graph output names.
func (c *Context) Resolve(v string) string {
	for i := 0; i <= len(c.remapped); i++ {
		to, ok := c.remapped[v]
		if !ok {
			return v
		}
		v = to
	}
	return v
}

// FreshNodeName returns a node name based on base that no node in the
// graph or in this run's rewrites uses, and reserves it.
func (c *Context) FreshNodeName(base string) string {
	nodes, _ := c.names()
	return fresh(nodes, base)
}

// FreshValueName returns an unused value name based on base and reserves it.
func (c *Context) FreshValueName(base string) string {
	_, values := c.names()
	return fresh(values, base)
}

func fresh(used map[string]bool, base string) string {
	name := base
	for i := 1; used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	used[name] = true
	return name
}

// NewRewrite starts a rewrite that fires for reason. Nodes it adds are
// named "<prefix>/<Op>" (see Rewrite.Scope). Commit it with Commit.
func (c *Context) NewRewrite(reason string) *Rewrite {
	return &Rewrite{ctx: c, rw: graph.Rewrite{Reason: reason}}
}

// Commit adds rw to the run's patch. It fails, committing nothing, if rw
// removes a node that an earlier rewrite removed or killed.
func (c *Context) Commit(rw *Rewrite) error {
	if rw.committed {
		return Errorf("rewrite %q committed twice", rw.rw.Reason)
	}
	for _, n := range rw.removed {
		if c.claimed[n] {
			return Errorf("rewrite %q removes node %q, which an earlier rewrite already removed", rw.rw.Reason, n.Name)
		}
	}
	for _, n := range append(rw.removed, rw.dying...) {
		c.claimed[n] = true
	}
	for _, m := range rw.rw.Remaps {
		c.remapped[m.From] = m.To
	}
	rw.committed = true
	c.rewrites = append(c.rewrites, rw.rw)
	return nil
}

// Match matches p rooted at n, as a pattern rule does, for rules that
// combine patterns by hand: it returns the first binding (nil when there
// is none) whose matched nodes no committed rewrite has claimed, and for
// which where (when not nil) holds.
func (c *Context) Match(p *Pattern, n *graph.Node, where func(*Match) bool) *Match {
	pat, ok := c.compiled[p]
	if !ok {
		pat = compile(p)
		c.compiled[p] = pat
	}
	m, _ := c.matchAt(pat, &Rule{Where: where}, n)
	return m
}

// Rewrites returns the rewrites committed so far.
func (c *Context) Rewrites() []graph.Rewrite { return c.rewrites }

func (c *Context) runRule(r *Rule) error {
	if r.Func != nil {
		return r.Func(c)
	}
	if r.Pattern == nil {
		return Errorf("has neither Pattern nor Func")
	}
	if r.Rewrite == nil {
		return Errorf("has a Pattern but no Rewrite")
	}
	pat := compile(r.Pattern)
	ops := r.Pattern.rootOps()
	nodes := c.view.Nodes()
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if c.claimed[n] || (ops != nil && !slices.Contains(ops, n.Op)) {
			continue
		}
		m, reason := c.matchAt(pat, r, n)
		if m == nil {
			if reason != "" {
				c.Note(n.Name, "%s", reason)
			}
			continue
		}
		rw := c.NewRewrite(defaultReason(r, c.pass, n))
		rw.Scope(n.Scope, prefixOf(n))
		rw.dying = m.Dying()
		if err := r.Rewrite(m, rw); err != nil {
			return Errorf("at node %q: %w", n.Name, err)
		}
		if rw.skip != "" {
			c.Note(n.Name, "%s", rw.skip)
			continue
		}
		if err := c.Commit(rw); err != nil {
			return err
		}
	}
	return nil
}

// matchAt matches pat rooted at n; it returns the first binding that
// passes the rule's Check, or the first Check's reason when none does.
func (c *Context) matchAt(pat *compiled, r *Rule, n *graph.Node) (*Match, string) {
	mt := pat.matcher
	if mt == nil || mt.busy || mt.v != c.view {
		mt = newMatcher(c.view, pat) // a nested match (from a callback) gets its own
		if pat.matcher == nil || pat.matcher.v != c.view {
			pat.matcher = mt
		}
	}
	mt.busy = true
	defer func() { mt.busy = false }()
	var found *Match
	reason := ""
	final := func() bool {
		for _, mn := range mt.nodes {
			if mn != nil && c.claimed[mn] {
				return false
			}
		}
		m := &Match{ctx: c, pat: pat, vals: append([]string(nil), mt.vals...),
			nodes: append([]*graph.Node(nil), mt.nodes...), root: n}
		if r.Where != nil && !r.Where(m) {
			return false
		}
		if r.Check != nil {
			if why := r.Check(m); why != "" {
				if reason == "" {
					reason = why
				}
				return false
			}
		}
		found = m
		return true
	}
	for _, out := range n.Outputs {
		if mt.run(pat.root, out, final) {
			return found, ""
		}
	}
	return nil, reason
}

func defaultReason(r *Rule, p *Pass, n *graph.Node) string {
	what := r.Name
	if what == "" {
		what = p.Name
	}
	return what + " at " + prefixOf(n)
}

func prefixOf(n *graph.Node) string {
	if n.Scope != "" {
		return n.Scope
	}
	return n.Name
}
