package sdk

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
)

// Match is one occurrence of a pattern in the graph.
type Match struct {
	ctx   *Context
	pat   *compiled
	vals  []string      // per pattern node: the matched value ("" unmatched)
	nodes []*graph.Node // per Op pattern node: the matched node
	root  *graph.Node
}

// Context returns the run the match belongs to.
func (m *Match) Context() *Context { return m.ctx }

// View returns the graph view.
func (m *Match) View() *View { return m.ctx.view }

// Root returns the node the pattern's root matched.
func (m *Match) Root() *graph.Node { return m.root }

// RootValue returns the value the pattern's root matched.
func (m *Match) RootValue() string { return m.vals[0] }

// Has reports whether name is bound (false for names inside an absent
// Optional node or an alternative that did not match).
func (m *Match) Has(name string) bool { return m.Value(name) != "" }

// Value returns the value bound to name, or "".
func (m *Match) Value(name string) string {
	for _, id := range m.pat.names[name] {
		if v := m.vals[id]; v != "" {
			return v
		}
	}
	return ""
}

// Node returns the node bound to name (an Op pattern named with As), or nil.
func (m *Match) Node(name string) *graph.Node {
	for _, id := range m.pat.names[name] {
		if n := m.nodes[id]; n != nil {
			return n
		}
	}
	return nil
}

// Const returns the constant bound to name (see View.Const), or nil.
func (m *Match) Const(name string) *Tensor {
	if v := m.Value(name); v != "" {
		return m.ctx.view.Const(v)
	}
	return nil
}

// Scalar returns the single value of the constant bound to name.
func (m *Match) Scalar(name string) (float64, bool) { return m.Const(name).Scalar() }

// Type returns the type of the value bound to name.
func (m *Match) Type(name string) graph.TensorType {
	t, _ := m.ctx.view.Type(m.Value(name))
	return t
}

// Nodes returns every node the match covers, in graph order.
func (m *Match) Nodes() []*graph.Node {
	seen := map[*graph.Node]bool{}
	var out []*graph.Node
	for _, n := range m.nodes {
		if n != nil && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	v := m.ctx.view
	sortNodes(out, v)
	return out
}

func sortNodes(ns []*graph.Node, v *View) {
	// insertion sort: matches are small
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && v.Position(ns[j]) < v.Position(ns[j-1]); j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

// Dying returns the nodes of the match that die when its root is removed:
// the root and every matched node all of whose readers die too. The rest
// of the match (values something else still reads) survives the rewrite.
func (m *Match) Dying() []*graph.Node {
	ns := m.Nodes()
	v := m.ctx.view
	dead := map[*graph.Node]bool{m.root: true}
	for i := len(ns) - 1; i >= 0; i-- {
		if n := ns[i]; !dead[n] && !v.outputsRead(n, dead, nil) {
			dead[n] = true
		}
	}
	var out []*graph.Node
	for _, n := range ns {
		if dead[n] {
			out = append(out, n)
		}
	}
	return out
}

// matcher finds bindings by backtracking: a failure anywhere (a shared
// node bound differently, a later check) retries every earlier choice:
// operand orders, alternatives, optional nodes. It is an explicit machine
// (a list of goals, a trail of bindings and a stack of choice points, all
// reused between matches) rather than recursion with continuations, whose
// closures would be allocated at every step: allocation is what a pass
// module spends its time on.
type matcher struct {
	v       *View
	c       *compiled
	vals    []string      // per pattern node: the bound value ("" unbound)
	nodes   []*graph.Node // per Op pattern node: the bound node
	goals   []goal        // cells of goal lists, shared by choice points
	trail   []int32       // pattern ids in the order they were bound
	choices []choice
	busy    bool // running: a nested match (from a callback) needs another matcher
}

// goal is a cell of a goal list: match p to value, or (p nil) bind the
// pattern node id to value, then go on with next (-1: done).
type goal struct {
	p     *Pattern
	value string
	id    int32
	next  int32
}

// choice is a point to come back to when the goals after it fail.
type choice struct {
	p     *Pattern
	value string
	n     *graph.Node // the node an Op pattern matched
	rest  int32       // the goals after p
	trail int32       // the trail length to undo to
	next  int32       // OneOf: the next alternative; Op: choiceSwapped or choiceSkip
}

const (
	choiceSwapped = 1 // the operands of a commutative op, swapped
	choiceSkip    = 2 // an optional node, absent
)

func newMatcher(v *View, c *compiled) *matcher {
	return &matcher{v: v, c: c, vals: make([]string, len(c.nodes)), nodes: make([]*graph.Node, len(c.nodes))}
}

// run matches root to value and calls final for each complete binding,
// in the order of a depth-first search (operands in order, then swapped,
// then an optional node absent; alternatives in order), until final
// returns true. It reports whether one did.
func (m *matcher) run(root *Pattern, value string, final func() bool) bool {
	clear(m.vals)
	clear(m.nodes)
	m.goals, m.trail, m.choices = m.goals[:0], m.trail[:0], m.choices[:0]
	head, ok := m.push(root, value, 0, -1), true
	for {
		switch {
		case !ok:
			head, ok = m.backtrack()
			if !ok {
				return false
			}
		case head < 0:
			if final() {
				return true
			}
			ok = false
		default:
			g := m.goals[head]
			if g.p == nil {
				m.bind(g.id, g.value, nil)
				head = g.next
				continue
			}
			head, ok = m.step(g.p, g.value, g.next)
		}
	}
}

// push adds a goal in front of the list next and returns the new list.
func (m *matcher) push(p *Pattern, value string, id, next int32) int32 {
	m.goals = append(m.goals, goal{p: p, value: value, id: id, next: next})
	return int32(len(m.goals) - 1)
}

func (m *matcher) bind(id int32, value string, n *graph.Node) {
	m.vals[id], m.nodes[id] = value, n
	m.trail = append(m.trail, id)
}

// step matches p to value, with rest to go after it, and returns the goals
// left to match, or false when p cannot match.
func (m *matcher) step(p *Pattern, value string, rest int32) (int32, bool) {
	id := int32(m.c.id[p])
	if b := m.vals[id]; b != "" {
		return rest, b == value
	}
	if value == "" || !m.valueOK(p, value) {
		if p.kind == patOp && p.optional {
			return m.skipOptional(p, value, rest)
		}
		return 0, false
	}
	switch p.kind {
	case patAny:
	case patConst:
		t := m.v.Const(value)
		if t == nil {
			return 0, false
		}
		if p.scalar != nil {
			x, ok := t.Scalar()
			if !ok || x != roundTo(t.Type.DType, []float64{*p.scalar})[0] {
				return 0, false
			}
		}
	case patInit:
		if m.v.Initializer(value) == nil {
			return 0, false
		}
	case patInput:
		if !m.v.IsInput(value) || (p.inputNm != "" && value != p.inputNm) {
			return 0, false
		}
	case patOneOf:
		if len(p.alts) == 0 {
			return 0, false
		}
		if len(p.alts) > 1 {
			m.choices = append(m.choices, choice{p: p, value: value, rest: rest, trail: int32(len(m.trail)), next: 1})
		}
		// The alternative, then the OneOf itself is bound to the value.
		return m.push(p.alts[0], value, 0, m.push(nil, value, id, rest)), true
	case patOp:
		n := m.v.Producer(value)
		if n == nil || !m.nodeOK(p, n, value) {
			if p.optional {
				return m.skipOptional(p, value, rest)
			}
			return 0, false
		}
		switch {
		case m.swappable(p, n):
			m.choices = append(m.choices, choice{p: p, value: value, n: n, rest: rest, trail: int32(len(m.trail)), next: choiceSwapped})
		case p.optional:
			m.choices = append(m.choices, choice{p: p, value: value, n: n, rest: rest, trail: int32(len(m.trail)), next: choiceSkip})
		}
		m.bind(id, value, n)
		return m.operands(p.inputs, n.Inputs, false, rest), true
	default:
		return 0, false
	}
	m.bind(id, value, nil)
	return rest, true
}

// swappable reports whether a commutative op's operands may also match
// the other way round.
func (m *matcher) swappable(p *Pattern, n *graph.Node) bool {
	return len(p.inputs) == 2 && commutative[p.op] && !p.ordered && n.Inputs[0] != n.Inputs[1]
}

// operands puts the goals of matching ps to values (ps swapped: ps[1] to
// values[0], ps[0] to values[1]) in front of rest.
func (m *matcher) operands(ps []*Pattern, values []string, swapped bool, rest int32) int32 {
	head := rest
	if swapped {
		head = m.push(ps[0], values[1], 0, head)
		return m.push(ps[1], values[0], 0, head)
	}
	for i := len(ps) - 1; i >= 0; i-- {
		head = m.push(ps[i], values[i], 0, head)
	}
	return head
}

// skipOptional matches an absent optional node: its first input pattern
// takes the value itself.
func (m *matcher) skipOptional(p *Pattern, value string, rest int32) (int32, bool) {
	if len(p.inputs) == 0 {
		return 0, false
	}
	return m.push(p.inputs[0], value, 0, rest), true
}

// backtrack undoes the bindings made since the last choice point and takes
// its next alternative; false when there is none left.
func (m *matcher) backtrack() (int32, bool) {
	if len(m.choices) == 0 {
		return 0, false
	}
	ch := &m.choices[len(m.choices)-1]
	for _, id := range m.trail[ch.trail:] {
		m.vals[id], m.nodes[id] = "", nil
	}
	m.trail = m.trail[:ch.trail]
	p, value, n, rest := ch.p, ch.value, ch.n, ch.rest
	id := int32(m.c.id[p])
	if p.kind == patOneOf {
		alt := ch.next
		if int(alt)+1 < len(p.alts) {
			ch.next++
		} else {
			m.choices = m.choices[:len(m.choices)-1]
		}
		return m.push(p.alts[alt], value, 0, m.push(nil, value, id, rest)), true
	}
	if ch.next == choiceSwapped {
		if p.optional {
			ch.next = choiceSkip
		} else {
			m.choices = m.choices[:len(m.choices)-1]
		}
		m.bind(id, value, n)
		return m.operands(p.inputs, n.Inputs, true, rest), true
	}
	m.choices = m.choices[:len(m.choices)-1]
	return m.skipOptional(p, value, rest)
}

func (m *matcher) valueOK(p *Pattern, value string) bool {
	if len(p.dtypes) > 0 || p.rank >= 0 {
		t, ok := m.v.Type(value)
		if !ok {
			return false
		}
		if len(p.dtypes) > 0 && !slices.Contains(p.dtypes, t.DType) {
			return false
		}
		if p.rank >= 0 && t.Shape.Rank() != p.rank {
			return false
		}
	}
	if p.oneUse && m.v.Uses(value) != 1 {
		return false
	}
	for _, w := range p.valWhr {
		if !w(m.v, value) {
			return false
		}
	}
	return true
}

func (m *matcher) nodeOK(p *Pattern, n *graph.Node, value string) bool {
	if n.Op != p.op || p.output >= len(n.Outputs) || n.Outputs[p.output] != value || len(n.Inputs) != len(p.inputs) {
		return false
	}
	for _, a := range p.attrs {
		got, ok := n.Attr(a.key)
		if !ok || !got.Equal(a.want) {
			return false
		}
	}
	for _, w := range p.nodeWhr {
		if !w(m.v, n) {
			return false
		}
	}
	return true
}
