package sdk

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
)

// View is a read-only view of the graph a pass runs on: who produces and
// who consumes each value, every value's type, and the values of small
// constants. It is the escape hatch for matching by hand, and what
// patterns match against. A View never changes; passes change graphs only
// through rewrites.
type View struct {
	g      *graph.Graph
	ix     *index
	types  map[string]graph.TensorType
	consts map[string]*Tensor
	pos    map[*graph.Node]int
}

// NewView indexes g. types gives every value's type (as ABI v1 requests
// carry them); when nil, NewView infers them and fails if g does not
// type-check. Inside a WebAssembly module (GOOS=wasip1) it cannot infer:
// the SDK leaves the op catalog's inference code out of modules, since
// requests carry every type; call graph.Infer yourself if you must.
func NewView(g *graph.Graph, types map[string]graph.TensorType) (*View, error) {
	if types == nil {
		var err error
		if types, err = inferTypes(g); err != nil {
			return nil, err
		}
	}
	return newView(g, types), nil
}

func newView(g *graph.Graph, types map[string]graph.TensorType) *View {
	return &View{g: g, ix: newIndex(g), types: types, consts: map[string]*Tensor{}}
}

// Graph returns the graph. Treat it as read-only.
func (v *View) Graph() *graph.Graph { return v.g }

// Nodes returns the top-level nodes in topological order.
func (v *View) Nodes() []*graph.Node { return v.g.Nodes }

// Node returns the top-level node named name, or nil.
func (v *View) Node(name string) *graph.Node { return v.g.Node(name) }

// Position returns n's index in topological order, or -1.
func (v *View) Position(n *graph.Node) int {
	if v.pos == nil { // built on first use: most runs never sort nodes
		v.pos = make(map[*graph.Node]int, len(v.g.Nodes))
		for i, n := range v.g.Nodes {
			v.pos[n] = i
		}
	}
	if i, ok := v.pos[n]; ok {
		return i
	}
	return -1
}

// Producer returns the node that outputs value, or nil for graph inputs,
// initializers and unknown names.
func (v *View) Producer(value string) *graph.Node { return v.ix.Producer(value) }

// Consumers returns the nodes that read value (inside their subgraphs too),
// in graph order.
func (v *View) Consumers(value string) []*graph.Node { return v.ix.Consumers(value) }

// Uses counts the readers of value; a graph output counts as one.
func (v *View) Uses(value string) int { return v.ix.Uses(value) }

// IsInput reports whether value is a graph input.
func (v *View) IsInput(value string) bool { return v.ix.IsInput(value) }

// IsOutput reports whether value is a graph output.
func (v *View) IsOutput(value string) bool { return v.ix.IsOutput(value) }

// Initializer returns the initializer named value, or nil.
func (v *View) Initializer(value string) *graph.Initializer { return v.ix.Initializer(value) }

// Type returns the type of value and whether it is known.
func (v *View) Type(value string) (graph.TensorType, bool) {
	t, ok := v.types[value]
	return t, ok
}

// Types returns the type of every value, keyed by name. Treat it as read-only.
func (v *View) Types() map[string]graph.TensorType { return v.types }

// Meta returns a graph metadata entry ("" when absent).
func (v *View) Meta(key string) string { return v.g.Metadata[key] }

// Const returns the values of value when it is a constant the pass can see:
// an initializer with inline data, or the output of a Constant node (a
// single value fills its shape), possibly through Cast, Reshape, Unsqueeze,
// Squeeze or Identity (which do not change values, only their dtype or
// shape). It returns nil otherwise.
func (v *View) Const(value string) *Tensor {
	if t, ok := v.consts[value]; ok {
		return t
	}
	t := v.constOf(value, 0)
	v.consts[value] = t
	return t
}

func (v *View) constOf(value string, depth int) *Tensor {
	if depth > 16 {
		return nil
	}
	if in := v.ix.Initializer(value); in != nil {
		if in.Data == nil {
			return nil
		}
		vals, ok := DecodeValues(in.Type.DType, in.Data)
		if !ok {
			return nil
		}
		return &Tensor{Type: in.Type, Values: vals}
	}
	n := v.ix.Producer(value)
	if n == nil {
		return nil
	}
	typ, ok := v.types[value]
	if !ok {
		return nil
	}
	switch n.Op {
	case "Constant":
		vals := n.Attrs["values"].Floats
		count := typ.Shape.NumElements()
		if count < 0 || count > graph.InlineLimit {
			return nil
		}
		out := make([]float64, count)
		for i := range out {
			if len(vals) == 1 {
				out[i] = vals[0]
			} else if i < len(vals) {
				out[i] = vals[i]
			}
		}
		return &Tensor{Type: typ, Values: roundTo(typ.DType, out)}
	case "Cast", "Reshape", "Unsqueeze", "Squeeze", "Identity":
		src := v.constOf(n.Input(0), depth+1)
		if src == nil || int64(len(src.Values)) != typ.Shape.NumElements() {
			return nil
		}
		return &Tensor{Type: typ, Values: roundTo(typ.DType, src.Values)}
	}
	return nil
}

// roundTo rounds values to what dtype dt can hold, as storing them would.
func roundTo(dt graph.DType, vals []float64) []float64 {
	out, ok := DecodeValues(dt, EncodeValues(dt, vals))
	if !ok {
		return vals
	}
	return out
}

// Scalar returns the value of a one-element constant.
func (v *View) Scalar(value string) (float64, bool) { return v.Const(value).Scalar() }

// TracesTo reports whether value is src itself or is computed from src
// through nodes whose op is one of ops (each following its first input),
// e.g. TracesTo(p, "position_ids", "Cast", "Unsqueeze").
func (v *View) TracesTo(value, src string, ops ...string) bool {
	for depth := 0; depth < 64; depth++ {
		if value == src {
			return true
		}
		n := v.ix.Producer(value)
		if n == nil || !slices.Contains(ops, n.Op) {
			return false
		}
		value = n.Input(0)
	}
	return false
}
