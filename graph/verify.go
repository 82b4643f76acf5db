package graph

import (
	"container/heap"
	"errors"
	"fmt"
)

// ErrCycle is returned (wrapped) when a graph's nodes form a cycle.
var ErrCycle = errors.New("graph has a cycle")

// patchIfSchema makes If's schema refuse inference outside its scope; it
// runs when the catalog is built.
func patchIfSchema() {
	s := catalog["If"]
	s.Infer = func(n *Node, in []TensorType) ([]TensorType, error) {
		return nil, errf("If must be inferred with its scope (use graph.Infer)")
	}
}

// Infer type-checks every node of g (and its subgraphs) in order and returns
// the type of every value, keyed by name.
func Infer(g *Graph) (map[string]TensorType, error) {
	ensureCatalog()
	types := map[string]TensorType{}
	if err := inferScope(g, types); err != nil {
		return nil, err
	}
	return types, nil
}

// inferScope adds g's values to types (which already holds the enclosing
// scopes' values) and checks g's nodes.
func inferScope(g *Graph, types map[string]TensorType) error {
	define := func(name string, t TensorType, what string) error {
		if name == "" {
			return fmt.Errorf("%s has an empty name", what)
		}
		if _, dup := types[name]; dup {
			return fmt.Errorf("value %q defined twice (again by %s)", name, what)
		}
		types[name] = t
		return nil
	}
	for _, v := range g.Inputs {
		if !v.Type.DType.Valid() {
			return fmt.Errorf("graph input %q has invalid dtype", v.Name)
		}
		if err := define(v.Name, v.Type, "graph input"); err != nil {
			return err
		}
	}
	for _, in := range g.Initializers {
		if err := checkInitializer(in); err != nil {
			return err
		}
		if err := define(in.Name, in.Type, "initializer"); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		in := make([]TensorType, len(n.Inputs))
		for i, v := range n.Inputs {
			if v == "" {
				continue
			}
			t, ok := types[v]
			if !ok {
				return nodeErr(n, "input %d reads %q, which is not defined before it", i, v)
			}
			in[i] = t
		}
		var out []TensorType
		var err error
		if n.Op == "If" {
			out, err = inferIf(n, in, types)
		} else {
			out, err = InferNode(n, in)
		}
		if err != nil {
			return err
		}
		for i, o := range n.Outputs {
			if err := define(o, out[i], fmt.Sprintf("node %q", n.Name)); err != nil {
				return err
			}
		}
	}
	for _, o := range g.Outputs {
		t, ok := types[o.Name]
		if !ok {
			return fmt.Errorf("graph output %q is not defined", o.Name)
		}
		if o.Type.DType != InvalidDType && !t.Compatible(o.Type) {
			return fmt.Errorf("graph output %q is declared %s but computes %s", o.Name, o.Type, t)
		}
	}
	return nil
}

func inferIf(n *Node, in []TensorType, outer map[string]TensorType) ([]TensorType, error) {
	if err := checkArity(catalog["If"], n); err != nil {
		return nil, err
	}
	if len(n.Attrs) != 0 {
		return nil, nodeErr(n, "If takes no attributes")
	}
	if in[0].Shape.NumElements() != 1 && !in[0].Shape.Compatible(Shape{D(1)}) && in[0].Shape.Rank() != 0 {
		return nil, nodeErr(n, "cond must have one element, got %s", in[0].Shape)
	}
	var branchOut [2][]TensorType
	for i, key := range []string{"then_branch", "else_branch"} {
		sg := n.Subgraphs[key]
		if sg == nil {
			return nil, nodeErr(n, "missing subgraph %q", key)
		}
		if len(sg.Inputs) != 0 {
			return nil, nodeErr(n, "%s must not declare inputs", key)
		}
		if len(sg.Outputs) != len(n.Outputs) {
			return nil, nodeErr(n, "%s has %d outputs, If has %d", key, len(sg.Outputs), len(n.Outputs))
		}
		scope := make(map[string]TensorType, len(outer))
		for k, v := range outer {
			scope[k] = v
		}
		if err := inferScope(sg, scope); err != nil {
			return nil, nodeErr(n, "%s: %v", key, err)
		}
		for _, o := range sg.Outputs {
			branchOut[i] = append(branchOut[i], scope[o.Name])
		}
	}
	for i := range branchOut[0] {
		t, e := branchOut[0][i], branchOut[1][i]
		if t.DType != e.DType || t.Shape.Rank() != e.Shape.Rank() {
			return nil, nodeErr(n, "output %d: then_branch %s vs else_branch %s", i, t, e)
		}
	}
	return branchOut[0], nil
}

func checkInitializer(in *Initializer) error {
	if !in.Type.DType.Valid() {
		return fmt.Errorf("initializer %q has invalid dtype", in.Name)
	}
	size := in.Type.ByteSize()
	if size < 0 {
		return fmt.Errorf("initializer %q has non-static shape %s", in.Name, in.Type.Shape)
	}
	sources := 0
	if in.Data != nil {
		sources++
		if int64(len(in.Data)) != size {
			return fmt.Errorf("initializer %q holds %d bytes, type %s needs %d", in.Name, len(in.Data), in.Type, size)
		}
	}
	if in.Ref != nil {
		sources++
		if in.Ref.Length != size || in.Ref.Offset < 0 {
			return fmt.Errorf("initializer %q refers to %d bytes at offset %d, type %s needs %d", in.Name, in.Ref.Length, in.Ref.Offset, in.Type, size)
		}
	}
	if in.Derive != nil {
		sources++
	}
	// A pass's view of a large weight has neither Data nor Ref; that is fine.
	if sources > 1 && !(in.Data != nil && in.Ref != nil) {
		return fmt.Errorf("initializer %q is both derived and stored", in.Name)
	}
	return nil
}

// Verify checks every invariant listed in the package comment: unique names,
// definitions before uses, acyclicity, known ops with valid attributes and
// consistent types, and declared outputs.
func Verify(g *Graph) error {
	_, err := VerifyTypes(g)
	return err
}

// VerifyTypes is Verify that also returns what it inferred: the type of
// every value, as Infer does, so that a caller needing both pays once.
func VerifyTypes(g *Graph) (map[string]TensorType, error) {
	names := map[string]bool{}
	var walk func(*Graph) error
	walk = func(g *Graph) error {
		for _, n := range g.Nodes {
			if n.Name == "" {
				return fmt.Errorf("a %s node has no name", n.Op)
			}
			if names[n.Name] {
				return fmt.Errorf("node name %q used twice", n.Name)
			}
			names[n.Name] = true
			for _, k := range sortedKeys(n.Subgraphs) {
				if err := walk(n.Subgraphs[k]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(g); err != nil {
		return nil, err
	}
	types, err := Infer(g)
	if err != nil {
		// Tell a cycle apart from mere misordering.
		if c := g.Clone(); TopoSort(c) != nil {
			return nil, fmt.Errorf("%w: %v", ErrCycle, err)
		}
		return nil, err
	}
	return types, nil
}

// TopoSort reorders g.Nodes (not subgraphs) into a topological order that
// keeps the existing relative order wherever dependencies allow (Kahn's
// algorithm with the current index as priority). It returns an error
// wrapping ErrCycle, leaving g unchanged, if the nodes form a cycle.
func TopoSort(g *Graph) error {
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = i
		}
	}
	indeg := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		seen := map[int]bool{}
		for _, v := range nodeUses(n) {
			if p, ok := producer[v]; ok && !seen[p] {
				seen[p] = true
				indeg[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	h := &intHeap{}
	for i, d := range indeg {
		if d == 0 {
			heap.Push(h, i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		order = append(order, g.Nodes[i])
		for _, u := range users[i] {
			if indeg[u]--; indeg[u] == 0 {
				heap.Push(h, u)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		var stuck []string
		for i, d := range indeg {
			if d > 0 && len(stuck) < 5 {
				stuck = append(stuck, g.Nodes[i].Name)
			}
		}
		return fmt.Errorf("%w through nodes %q", ErrCycle, stuck)
	}
	g.Nodes = order
	return nil
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// DCE removes nodes none of whose outputs are read (by a node, a subgraph or
// a graph output), and initializers nothing reads. Graph inputs stay: they
// are the graph's interface. It returns the number of nodes removed.
func DCE(g *Graph) int {
	live := map[string]bool{}
	for _, o := range g.Outputs {
		live[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	removed := 0
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if live[o] {
				keep[i] = true
				break
			}
		}
		if !keep[i] {
			removed++
			continue
		}
		for _, k := range sortedKeys(n.Subgraphs) {
			removed += DCE(n.Subgraphs[k])
		}
		for _, v := range nodeUses(n) {
			live[v] = true
		}
	}
	nodes := g.Nodes[:0]
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	for i := len(nodes); i < len(g.Nodes); i++ {
		g.Nodes[i] = nil
	}
	g.Nodes = nodes
	inits := g.Initializers[:0]
	for _, in := range g.Initializers {
		if live[in.Name] || derivedFromLive(in, g, live) {
			inits = append(inits, in)
		}
	}
	g.Initializers = inits
	return removed
}

// derivedFromLive keeps an initializer that a live derived initializer needs.
func derivedFromLive(in *Initializer, g *Graph, live map[string]bool) bool {
	for _, o := range g.Initializers {
		if o.Derive != nil && o.Derive.Source == in.Name && live[o.Name] {
			return true
		}
	}
	return false
}
