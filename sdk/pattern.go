package sdk

import (
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// A Pattern describes a subgraph by example, in the spirit of torch.fx's
// replace_pattern: build it from the same operations the graph uses, and
// every pattern node matches one value of the graph.
//
//	x, w := sdk.Any("x"), sdk.Any("w")
//	sq := sdk.OneOf(sdk.Op("Pow", x, sdk.Scalar(2)), sdk.Op("Mul", x, x))
//	ms := sdk.Op("ReduceMean", sq).Attr("axes", graph.Ints(-1)).Attr("keepdims", graph.Int(1))
//	r := sdk.Op("Rsqrt", sdk.Op("Add", ms, sdk.Const("eps")))
//	root := sdk.Op("Mul", w, sdk.Op("Mul", x, r))
//
// A pattern is a DAG: a pattern node used twice (x above) must match the
// same graph value both times. Operands of Add, Mul, Max and Min match in
// either order. Names given with Any, Const and As bind the matched values
// and nodes for the rewrite (Match.Value, Match.Node).
//
// Patterns are immutable once built and safe to share between rules; the
// constraint methods (Attr, Where, OneUse, ...) modify and return the
// receiver, so call them while building.
type Pattern struct {
	kind     patKind
	name     string
	op       string
	output   int
	inputs   []*Pattern
	alts     []*Pattern
	attrs    []attrWant
	nodeWhr  []func(v *View, n *graph.Node) bool
	valWhr   []func(v *View, value string) bool
	dtypes   []graph.DType
	rank     int // -1: any
	oneUse   bool
	optional bool
	ordered  bool
	scalar   *float64
	inputNm  string // for GraphInput: the exact name, or "" for any
}

type patKind uint8

const (
	patAny patKind = iota
	patConst
	patInit
	patInput
	patOp
	patOneOf
)

type attrWant struct {
	key  string
	want graph.Attr
}

func newPattern(k patKind) *Pattern { return &Pattern{kind: k, rank: -1} }

// Any matches any value and binds it to name ("" binds nothing).
func Any(name string) *Pattern { p := newPattern(patAny); p.name = name; return p }

// Const matches a constant whose values the pass can see (View.Const) and
// binds it to name.
func Const(name string) *Pattern { p := newPattern(patConst); p.name = name; return p }

// Scalar matches a constant with exactly one element, equal to x after
// rounding x to the constant's dtype (so Scalar(0.1) matches an f32 0.1).
func Scalar(x float64) *Pattern {
	p := newPattern(patConst)
	p.scalar = &x
	return p
}

// Initializer matches any initializer (with or without visible data), bound to name.
func Initializer(name string) *Pattern { p := newPattern(patInit); p.name = name; return p }

// GraphInput matches the graph input called input, or any graph input
// when input is "", and binds it to input's name.
func GraphInput(input string) *Pattern {
	p := newPattern(patInput)
	p.inputNm = input
	p.name = input
	return p
}

// Op matches output 0 of a node of op whose inputs match inputs, in order
// (in either order for the commutative ops Add, Mul, Max and Min). The
// node must have exactly len(inputs) inputs.
func Op(op string, inputs ...*Pattern) *Pattern {
	p := newPattern(patOp)
	p.op = op
	p.inputs = inputs
	return p
}

// OneOf matches whichever alternative matches first, trying them in order.
// Names bound inside the alternative that matched are bound.
func OneOf(alts ...*Pattern) *Pattern {
	p := newPattern(patOneOf)
	p.alts = alts
	return p
}

var commutative = map[string]bool{"Add": true, "Mul": true, "Max": true, "Min": true}

// As names the node (for Op patterns, Match.Node) and the value (Match.Value) it matches.
func (p *Pattern) As(name string) *Pattern { p.name = name; return p }

// Output makes an Op pattern match output k of the node instead of output 0.
func (p *Pattern) Output(k int) *Pattern { p.output = k; return p }

// Attr requires the node's attribute key (or its schema default) to equal want.
func (p *Pattern) Attr(key string, want graph.Attr) *Pattern {
	p.attrs = append(p.attrs, attrWant{key, want})
	return p
}

// Where adds a check on the matched node (Op patterns only).
func (p *Pattern) Where(check func(v *View, n *graph.Node) bool) *Pattern {
	p.nodeWhr = append(p.nodeWhr, check)
	return p
}

// WhereValue adds a check on the matched value (any pattern).
func (p *Pattern) WhereValue(check func(v *View, value string) bool) *Pattern {
	p.valWhr = append(p.valWhr, check)
	return p
}

// DType requires the matched value to have one of dtypes.
func (p *Pattern) DType(dtypes ...graph.DType) *Pattern { p.dtypes = dtypes; return p }

// Rank requires the matched value to have rank r.
func (p *Pattern) Rank(r int) *Pattern { p.rank = r; return p }

// OneUse requires the matched value to have exactly one reader (a graph
// output counts as a reader), so the node dies with the match.
func (p *Pattern) OneUse() *Pattern { p.oneUse = true; return p }

// Optional makes an Op pattern optional: it matches the node as usual, or,
// when that fails, the value its first input pattern matches (the node is
// absent, e.g. an optional Dropout or bias Add). Names bound inside an
// absent node and its other inputs are unbound (Match.Has is false).
func (p *Pattern) Optional() *Pattern { p.optional = true; return p }

// Ordered turns off either-order operand matching for a commutative op.
func (p *Pattern) Ordered() *Pattern { p.ordered = true; return p }

// String renders the pattern as an expression, for logs and test failures.
func (p *Pattern) String() string {
	var b strings.Builder
	p.write(&b, map[*Pattern]bool{})
	return b.String()
}

func (p *Pattern) write(b *strings.Builder, seen map[*Pattern]bool) {
	if seen[p] && p.name != "" {
		b.WriteString(p.name)
		return
	}
	seen[p] = true
	switch p.kind {
	case patAny:
		b.WriteString(orString(p.name, "_"))
	case patConst:
		if p.scalar != nil {
			b.WriteString(jsonFloat(*p.scalar))
		} else {
			b.WriteString("const " + orString(p.name, "_"))
		}
	case patInit:
		b.WriteString("init " + orString(p.name, "_"))
	case patInput:
		b.WriteString("input " + orString(p.inputNm, "_"))
	case patOp:
		b.WriteString(p.op)
		if p.output != 0 {
			b.WriteString("." + strconv.Itoa(p.output))
		}
		b.WriteByte('(')
		for i, in := range p.inputs {
			if i > 0 {
				b.WriteString(", ")
			}
			in.write(b, seen)
		}
		b.WriteByte(')')
		if p.optional {
			b.WriteByte('?')
		}
	case patOneOf:
		b.WriteString("oneof(")
		for i, a := range p.alts {
			if i > 0 {
				b.WriteString(" | ")
			}
			a.write(b, seen)
		}
		b.WriteByte(')')
	}
}

func orString(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// rootOps lists the ops a value matched by p can be produced by (nil: any),
// so the engine only tries plausible roots.
func (p *Pattern) rootOps() []string {
	switch p.kind {
	case patOp:
		if p.optional {
			return nil
		}
		return []string{p.op}
	case patOneOf:
		var ops []string
		for _, a := range p.alts {
			sub := a.rootOps()
			if sub == nil {
				return nil
			}
			ops = append(ops, sub...)
		}
		return ops
	}
	return nil
}

// compiled is a pattern with its nodes numbered for matching.
type compiled struct {
	root    *Pattern
	nodes   []*Pattern
	id      map[*Pattern]int
	names   map[string][]int
	matcher *matcher // reused from one candidate root to the next
}

func compile(root *Pattern) *compiled {
	c := &compiled{root: root, id: map[*Pattern]int{}, names: map[string][]int{}}
	var walk func(p *Pattern)
	walk = func(p *Pattern) {
		if _, ok := c.id[p]; ok {
			return
		}
		c.id[p] = len(c.nodes)
		c.nodes = append(c.nodes, p)
		if p.name != "" {
			c.names[p.name] = append(c.names[p.name], c.id[p])
		}
		for _, in := range p.inputs {
			walk(in)
		}
		for _, a := range p.alts {
			walk(a)
		}
	}
	walk(root)
	return c
}
