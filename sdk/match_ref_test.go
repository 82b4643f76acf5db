package sdk

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

// refMatcher is the matcher as it was first written, in continuation-
// passing style: the reference the explicit machine must agree with,
// solution for solution, in the same order.
type refMatcher struct {
	*matcher
}

func newRefMatcher(v *View, c *compiled) *refMatcher { return &refMatcher{newMatcher(v, c)} }

// match binds p to value and calls k; it undoes its bindings when k fails.
func (m *refMatcher) match(p *Pattern, value string, k func() bool) bool {
	id := m.c.id[p]
	if b := m.vals[id]; b != "" {
		return b == value && k()
	}
	if value == "" || !m.valueOK(p, value) {
		if p.kind == patOp && p.optional {
			return m.skipOptional(p, value, k)
		}
		return false
	}
	bind := func(n *graph.Node, k func() bool) bool {
		m.vals[id], m.nodes[id] = value, n
		if k() {
			return true
		}
		m.vals[id], m.nodes[id] = "", nil
		return false
	}
	switch p.kind {
	case patAny:
		return bind(nil, k)
	case patConst:
		t := m.v.Const(value)
		if t == nil {
			return false
		}
		if p.scalar != nil {
			x, ok := t.Scalar()
			if !ok || x != roundTo(t.Type.DType, []float64{*p.scalar})[0] {
				return false
			}
		}
		return bind(nil, k)
	case patInit:
		if m.v.Initializer(value) == nil {
			return false
		}
		return bind(nil, k)
	case patInput:
		if !m.v.IsInput(value) || (p.inputNm != "" && value != p.inputNm) {
			return false
		}
		return bind(nil, k)
	case patOneOf:
		for _, a := range p.alts {
			ok := m.match(a, value, func() bool { return bind(nil, k) })
			if ok {
				return true
			}
		}
		return false
	case patOp:
		n := m.v.Producer(value)
		if n != nil && m.nodeOK(p, n, value) {
			if bind(n, func() bool { return m.operands(p, n, k) }) {
				return true
			}
		}
		if p.optional {
			return m.skipOptional(p, value, k)
		}
		return false
	}
	return false
}

// skipOptional matches an absent optional node: its first input pattern
// takes the value itself.
func (m *refMatcher) skipOptional(p *Pattern, value string, k func() bool) bool {
	if len(p.inputs) == 0 {
		return false
	}
	return m.match(p.inputs[0], value, k)
}

// operands matches p's input patterns against n's inputs, in order and,
// for a commutative binary op, swapped.
func (m *refMatcher) operands(p *Pattern, n *graph.Node, k func() bool) bool {
	if m.list(p.inputs, n.Inputs, k) {
		return true
	}
	if len(p.inputs) == 2 && commutative[p.op] && !p.ordered && n.Inputs[0] != n.Inputs[1] {
		return m.list([]*Pattern{p.inputs[1], p.inputs[0]}, n.Inputs, k)
	}
	return false
}

func (m *refMatcher) list(ps []*Pattern, values []string, k func() bool) bool {
	if len(ps) == 0 {
		return k()
	}
	return m.match(ps[0], values[0], func() bool { return m.list(ps[1:], values[1:], k) })
}

// testPatterns are patterns like those of the built-in passes (package
// passes imports sdk, so they are restated here): alternatives, optional
// nodes, commutative operands, shared nodes, attribute and node checks.
func testPatterns() map[string]*Pattern {
	ps := map[string]*Pattern{}
	{ // rms_norm
		x := Any("x")
		sq := OneOf(Op("Pow", x, Scalar(2)), Op("Mul", x, x))
		ms := Op("ReduceMean", sq).As("mean").Where(OnLastAxis("axes")).Attr("keepdims", graph.Int(1))
		den := Op("Add", ms, Any("eps"))
		norm := OneOf(Op("Mul", x, Op("Rsqrt", den)), Op("Div", x, Op("Sqrt", den))).As("norm")
		ps["rms_norm"] = Op("Mul", Any("weight"), norm)
	}
	{ // layer_norm: a chain of optional nodes at the root
		x := Any("x")
		mu := Op("ReduceMean", x).As("mean").Attr("keepdims", graph.Int(1))
		d := Op("Sub", x, mu).As("centered")
		sq := OneOf(Op("Pow", d, Scalar(2)), Op("Mul", d, d))
		variance := Op("ReduceMean", sq).As("var").Attr("keepdims", graph.Int(1))
		den := Op("Add", variance, Any("eps"))
		norm := OneOf(Op("Div", d, Op("Sqrt", den)), Op("Mul", d, Op("Rsqrt", den))).As("norm")
		ps["layer_norm"] = Op("Add", Op("Mul", norm, Any("weight")).Optional(), Any("bias")).Optional()
	}
	{ // swiglu
		gate := Any("gate")
		silu := OneOf(Op("Silu", gate), Op("Mul", gate, Op("Sigmoid", gate))).As("silu")
		ps["swiglu"] = Op("Mul", silu, Any("up"))
	}
	{ // sdpa's value product, with an optional Dropout
		probs := Op("Softmax", Any("logits")).As("softmax").Where(OnLastAxis("axis"))
		ps["sdpa"] = Op("MatMul", Op("Dropout", probs).As("dropout").Optional(), Any("v")).Attr("transpose_b", graph.Int(0))
	}
	{ // rotate-half rotary embedding (half-slice checks reduced to the axis)
		x := Any("x")
		lo := Op("Slice", x).As("lo").Where(OnLastAxis("axes"))
		hi := Op("Slice", x).As("hi").Where(OnLastAxis("axes"))
		rot := Op("Concat", Op("Neg", hi), lo).Where(OnLastAxis("axis"))
		ps["rotary"] = Op("Add", Op("Mul", x, Any("cos")), Op("Mul", rot, Any("sin")))
	}
	{ // gqa cache update: graph inputs, value checks, ranks
		rep := Op("RepeatInterleave", Any("new").Rank(4)).As("repeat")
		past := GraphInput("").As("past").WhereValue(func(v *View, value string) bool { return strings.HasPrefix(value, "past_key_values.") })
		ps["gqa"] = Op("Concat", past, rep).Where(func(v *View, n *graph.Node) bool { return NormAxis(n.Int("axis"), 4) == 2 })
	}
	{ // shared operands, ordered and one-use constraints, dtypes
		x := Any("x").DType(graph.F32, graph.BF16)
		ps["square_sum"] = Op("Add", Op("Mul", x, x).OneUse(), Op("Mul", x, Any("y")).Ordered())
		ps["any_binary"] = OneOf(Op("Add", Any("a"), Any("b")), Op("Sub", Any("a"), Any("b")), Op("Mul", Any("a"), Const("c")))
	}
	return ps
}

// enumerate lists every complete binding a matcher finds for p at n, in
// order (final always refuses, so the search is exhaustive).
func enumerate(run func(root *Pattern, value string, final func() bool) bool, c *compiled, vals *[]string, nodes *[]*graph.Node, n *graph.Node) []string {
	var out []string
	for _, o := range n.Outputs {
		run(c.root, o, func() bool {
			var b strings.Builder
			for i, v := range *vals {
				b.WriteString(v)
				b.WriteByte('=')
				if nd := (*nodes)[i]; nd != nil {
					b.WriteString(nd.Name)
				}
				b.WriteByte(';')
			}
			out = append(out, b.String())
			return false
		})
	}
	return out
}

func mutateForMatch(r *rand.Rand, g *graph.Graph) *graph.Graph {
	g = g.Clone()
	unary := []string{"Identity", "Neg", "Silu", "Sigmoid", "Sqrt", "Rsqrt"}
	binary := []string{"Add", "Mul", "Sub", "Div"}
	for k := 0; k < 1+len(g.Nodes)/20; k++ {
		n := g.Nodes[r.Intn(len(g.Nodes))]
		switch r.Intn(3) {
		case 0:
			if len(n.Inputs) == 2 {
				n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0]
			}
		case 1:
			for _, set := range [][]string{unary, binary} {
				for _, op := range set {
					if n.Op == op {
						n.Op = set[r.Intn(len(set))]
					}
				}
			}
		case 2: // read an earlier value instead (types may no longer agree: matching must not care)
			if len(n.Inputs) > 0 {
				i := r.Intn(len(g.Nodes))
				if m := g.Nodes[i]; m != n && len(m.Outputs) > 0 {
					n.Inputs[r.Intn(len(n.Inputs))] = m.Outputs[0]
				}
			}
		}
	}
	return g
}

// TestMatcherAgreesWithReference: on real decoder graphs and mutants of
// them, the explicit matcher finds exactly the bindings the
// continuation-passing reference finds, in the same order.
func TestMatcherAgreesWithReference(t *testing.T) {
	var graphs []*graph.Graph
	for _, arch := range []string{"qwen3-tiny", "gpt2-tiny", "llama-tiny"} {
		cfg, err := model.Synthetic(arch)
		if err != nil {
			continue
		}
		g, err := model.BuildGraph(cfg, model.BuildOptions{MergedDecoder: arch == "qwen3-tiny", ExpandKVBeforeCache: true})
		if err != nil {
			t.Fatal(err)
		}
		graphs = append(graphs, g)
	}
	if len(graphs) < 2 {
		t.Fatalf("only %d synthetic models", len(graphs))
	}
	r := rand.New(rand.NewSource(7))
	for i, n := 0, len(graphs); i < 3*n; i++ {
		graphs = append(graphs, mutateForMatch(r, graphs[i%n]))
	}
	total := 0
	for gi, g := range graphs {
		types, err := graph.Infer(g)
		if err != nil {
			types = map[string]graph.TensorType{} // a mutant that no longer type-checks: no types
		}
		v := newView(g, types)
		for name, p := range testPatterns() {
			c := compile(p)
			newM, ref := newMatcher(v, c), newRefMatcher(v, c)
			for _, n := range g.Nodes {
				got := enumerate(newM.run, c, &newM.vals, &newM.nodes, n)
				want := enumerate(func(root *Pattern, value string, final func() bool) bool {
					clear(ref.vals)
					clear(ref.nodes)
					return ref.match(root, value, final)
				}, c, &ref.vals, &ref.nodes, n)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("graph %d, pattern %s, node %s: machine found %d bindings, reference %d\n got  %q\n want %q", gi, name, n.Name, len(got), len(want), got, want)
				}
				total += len(got)
			}
		}
	}
	t.Logf("%d graphs, %d bindings agree", len(graphs), total)
	if total < 100 {
		t.Errorf("only %d bindings: the patterns do not exercise the matcher", total)
	}
}
