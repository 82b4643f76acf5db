package sdk

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
)

// NormAxis maps a possibly negative axis onto [0, rank), or -1 when out of range.
func NormAxis(axis int64, rank int) int {
	a := int(axis)
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return -1
	}
	return a
}

// OnLastAxis returns a node check (for Pattern.Where): the node's int or
// int-list attribute key names exactly the last axis of its first input,
// written either way (-1 or rank-1).
func OnLastAxis(key string) func(v *View, n *graph.Node) bool {
	return func(v *View, n *graph.Node) bool {
		t, ok := v.Type(n.Input(0))
		if !ok {
			return false
		}
		rank := t.Shape.Rank()
		if n.Op == "Unsqueeze" {
			rank += len(n.IntList("axes"))
		}
		a, ok := n.Attr(key)
		if !ok {
			return false
		}
		switch a.Kind {
		case graph.AttrInt:
			return NormAxis(a.Int, rank) == rank-1
		case graph.AttrInts:
			return len(a.Ints) == 1 && NormAxis(a.Ints[0], rank) == rank-1
		}
		return false
	}
}

// AxesAre returns a node check: the int-list attribute key lists exactly
// axes (each normalised against the rank of the node's first input).
func AxesAre(key string, axes ...int) func(v *View, n *graph.Node) bool {
	return func(v *View, n *graph.Node) bool {
		t, ok := v.Type(n.Input(0))
		if !ok {
			return false
		}
		rank := t.Shape.Rank()
		if n.Op == "Unsqueeze" {
			rank += len(n.IntList("axes"))
		}
		got := n.IntList(key)
		if len(got) != len(axes) {
			return false
		}
		for i, a := range got {
			if NormAxis(a, rank) != NormAxis(int64(axes[i]), rank) {
				return false
			}
		}
		return true
	}
}

// LastDim returns the last dim of value's type, and whether it is known.
func (v *View) LastDim(value string) (graph.Dim, bool) {
	t, ok := v.Type(value)
	if !ok || t.Shape.Rank() == 0 {
		return graph.Dim{}, false
	}
	return t.Shape[t.Shape.Rank()-1], true
}

// IsVectorOf reports whether value is a rank-1 tensor whose single dim
// equals d: a per-channel parameter of a normalization over a last axis d.
func (v *View) IsVectorOf(value string, d graph.Dim) bool {
	t, ok := v.Type(value)
	return ok && t.Shape.Rank() == 1 && t.Shape[0].Equal(d)
}

// Dead returns the nodes that are dead once the removed nodes are gone
// and the graph outputs listed in outputs no longer exist: the removed
// nodes, and every node none of whose outputs a live node or a remaining
// graph output reads. It answers "does this subgraph die with the
// rewrite?" before committing it.
func (v *View) Dead(removed []*graph.Node, outputs []string) map[*graph.Node]bool {
	dead := map[*graph.Node]bool{}
	for _, n := range removed {
		dead[n] = true
	}
	nodes := v.g.Nodes
	for i := len(nodes) - 1; i >= 0; i-- {
		if n := nodes[i]; !dead[n] && !v.outputsRead(n, dead, outputs) {
			dead[n] = true
		}
	}
	return dead
}

// outputsRead reports whether any output of n is ReadBy a node not in dead
// or is a graph output not listed in outputs.
func (v *View) outputsRead(n *graph.Node, dead map[*graph.Node]bool, outputs []string) bool {
	for _, o := range n.Outputs {
		if v.ReadBy(o, dead, outputs) {
			return true
		}
	}
	return false
}

// ReadBy reports whether value is read by a node not in dead, or is a graph
// output not listed in outputs.
func (v *View) ReadBy(value string, dead map[*graph.Node]bool, outputs []string) bool {
	if v.IsOutput(value) && !slices.Contains(outputs, value) {
		return true
	}
	for _, r := range v.Consumers(value) {
		if !dead[r] {
			return true
		}
	}
	return false
}
