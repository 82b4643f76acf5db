// Package graph is the in-memory IR shared by the pass host, the pass SDK and
// the runtimes: a dataflow graph of typed tensor values, ONNX-like primitive
// ops and MLX-like fused ops, with weights held by reference.
//
// Invariants of a valid Graph (checked by Verify):
//   - every value name is defined exactly once: as a graph input, an
//     initializer or a node output (values of an enclosing graph are visible
//     inside a subgraph);
//   - every node input and graph output names a defined value;
//   - Nodes are in topological order and the graph is acyclic;
//   - every op is in the catalog and its inputs type-check (see Infer);
//   - each declared graph output type agrees with the inferred type.
//
// Graphs are plain data: passes see the same structure through ABI v1
// (package abi), and patches (Patch) are the only way a pass changes one.
package graph

import (
	"fmt"
	"sort"
)

// ValueInfo names a graph input or output and gives its type.
type ValueInfo struct {
	Name string
	Type TensorType
}

// Node applies one op to named input values, producing named output values.
type Node struct {
	Name    string          // unique within the graph (and its subgraphs)
	Op      string          // an op type from the catalog, e.g. "MatMul", "RMSNorm"
	Inputs  []string        // value names; "" marks an omitted optional input
	Outputs []string        // value names this node defines
	Attrs   map[string]Attr // typed attributes, as the op's schema declares
	Scope   string          // where the node came from, e.g. "model.layers.3.self_attn"
	// Subgraphs holds the bodies of control-flow ops ("then_branch" and
	// "else_branch" for If). A subgraph sees the values of the graphs around it.
	Subgraphs map[string]*Graph
}

// Attr returns the attribute named key, or the schema default, and whether
// either exists.
func (n *Node) Attr(key string) (Attr, bool) {
	if a, ok := n.Attrs[key]; ok {
		return a, true
	}
	if catalogReady.Load() { // ops registered at run time included
		return schemaDefault(n.Op, key)
	}
	return builtinAttrDefault(n.Op, key) // without building the catalog
}

// Int returns an int attribute (or its default), 0 when absent.
func (n *Node) Int(key string) int64 { a, _ := n.Attr(key); return a.Int }

// Float returns a float attribute (or its default), 0 when absent.
func (n *Node) Float(key string) float64 { a, _ := n.Attr(key); return a.Float }

// Str returns a string attribute (or its default), "" when absent.
func (n *Node) Str(key string) string { a, _ := n.Attr(key); return a.Str }

// IntList returns an int-list attribute (or its default).
func (n *Node) IntList(key string) []int64 { a, _ := n.Attr(key); return a.Ints }

// Input returns input i, or "" when the node has fewer inputs.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Clone returns a deep copy of the node.
func (n *Node) Clone() *Node {
	c := *n
	c.Inputs = append([]string(nil), n.Inputs...)
	c.Outputs = append([]string(nil), n.Outputs...)
	if n.Attrs != nil {
		c.Attrs = make(map[string]Attr, len(n.Attrs))
		for k, v := range n.Attrs {
			c.Attrs[k] = v.clone()
		}
	}
	if n.Subgraphs != nil {
		c.Subgraphs = make(map[string]*Graph, len(n.Subgraphs))
		for k, g := range n.Subgraphs {
			c.Subgraphs[k] = g.Clone()
		}
	}
	return &c
}

// SortedAttrNames returns the node's attribute names in sorted order, the
// order used by every encoding so that they are deterministic.
func (n *Node) SortedAttrNames() []string {
	names := make([]string, 0, len(n.Attrs))
	for k := range n.Attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// WeightRef says where an initializer's bytes live: a byte range of a file,
// normally a safetensors checkpoint, which runtimes memory-map.
type WeightRef struct {
	File   string // absolute path
	Offset int64  // byte offset of the first element
	Length int64  // byte length; equals Type.ByteSize()
}

// Derivation describes an initializer the host computes from another one
// (passes never see weight bytes, so they ask the host to derive them).
type Derivation struct {
	// Op is the derivation: "affine_quantize" is MLX affine group
	// quantization with attrs "bits" and "group_size" (and "transpose"=1 to
	// quantize the transpose of an [in, out] weight such as GPT-2's Conv1D);
	// Output 0 is the packed uint32 weight, 1 the scales, 2 the biases.
	Op     string
	Source string // the initializer it is computed from
	Attrs  map[string]Attr
	Output int
}

// Initializer is a constant tensor: a weight held by reference, a small
// constant held inline, or a value the host derives on request.
type Initializer struct {
	Name string
	Type TensorType // always a static shape
	// Data holds the little-endian element bytes of small constants (at most
	// InlineLimit bytes cross the ABI). Nil for weights held by Ref.
	Data   []byte
	Ref    *WeightRef
	Derive *Derivation
}

// InlineLimit is the largest initializer whose values a pass sees.
const InlineLimit = 64 << 10

// Clone returns a deep copy.
func (in *Initializer) Clone() *Initializer {
	c := *in
	c.Type.Shape = in.Type.Shape.Clone()
	c.Data = append([]byte(nil), in.Data...)
	if in.Data == nil {
		c.Data = nil
	}
	if in.Ref != nil {
		r := *in.Ref
		c.Ref = &r
	}
	if in.Derive != nil {
		d := *in.Derive
		d.Attrs = map[string]Attr{}
		for k, v := range in.Derive.Attrs {
			d.Attrs[k] = v.clone()
		}
		c.Derive = &d
	}
	return &c
}

// Graph is a dataflow graph. See the package comment for its invariants.
type Graph struct {
	Name         string
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	Initializers []*Initializer
	Nodes        []*Node // in topological order
	// Metadata carries facts about the model the graph came from (e.g.
	// "architecture", "num_layers", "vocab_size", "eos_token_ids"), so that
	// runtimes and passes need not guess them. Keys are documented by the
	// producer (package model).
	Metadata map[string]string
}

// Clone returns a deep copy of the graph.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name}
	for _, v := range g.Inputs {
		c.Inputs = append(c.Inputs, ValueInfo{v.Name, TensorType{v.Type.DType, v.Type.Shape.Clone()}})
	}
	for _, v := range g.Outputs {
		c.Outputs = append(c.Outputs, ValueInfo{v.Name, TensorType{v.Type.DType, v.Type.Shape.Clone()}})
	}
	for _, in := range g.Initializers {
		c.Initializers = append(c.Initializers, in.Clone())
	}
	for _, n := range g.Nodes {
		c.Nodes = append(c.Nodes, n.Clone())
	}
	if g.Metadata != nil {
		c.Metadata = make(map[string]string, len(g.Metadata))
		for k, v := range g.Metadata {
			c.Metadata[k] = v
		}
	}
	return c
}

// Initializer returns the initializer named name, or nil.
func (g *Graph) Initializer(name string) *Initializer {
	for _, in := range g.Initializers {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// LookupInitializer finds the initializer named name in the innermost of
// scopes (a graph, then the subgraphs nested in it, last innermost) that
// defines it, or returns nil: a subgraph sees the initializers of the
// graphs around it.
func LookupInitializer(scopes []*Graph, name string) *Initializer {
	for i := len(scopes) - 1; i >= 0; i-- {
		if in := scopes[i].Initializer(name); in != nil {
			return in
		}
	}
	return nil
}

// Input returns the graph input named name, or nil.
func (g *Graph) Input(name string) *ValueInfo {
	for i := range g.Inputs {
		if g.Inputs[i].Name == name {
			return &g.Inputs[i]
		}
	}
	return nil
}

// Output returns the graph output named name, or nil.
func (g *Graph) Output(name string) *ValueInfo {
	for i := range g.Outputs {
		if g.Outputs[i].Name == name {
			return &g.Outputs[i]
		}
	}
	return nil
}

// Node returns the node named name (in this graph, not subgraphs), or nil.
func (g *Graph) Node(name string) *Node {
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// OpCounts counts nodes by op type, including nodes inside subgraphs.
func (g *Graph) OpCounts() map[string]int {
	counts := map[string]int{}
	var walk func(*Graph)
	walk = func(g *Graph) {
		for _, n := range g.Nodes {
			counts[n.Op]++
			for _, k := range sortedKeys(n.Subgraphs) {
				walk(n.Subgraphs[k])
			}
		}
	}
	walk(g)
	return counts
}

// NumNodes counts nodes including those inside subgraphs.
func (g *Graph) NumNodes() int {
	total := 0
	for _, c := range g.OpCounts() {
		total += c
	}
	return total
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Index is a read-only lookup structure over one graph level: who produces
// and who consumes each value. It is invalid once the graph changes.
type Index struct {
	g         *Graph
	producer  map[string]*Node
	consumers map[string][]*Node
	init      map[string]*Initializer
	inputs    map[string]bool
	outputs   map[string]bool
}

// NewIndex indexes g. Uses inside subgraphs count as uses by the node that
// owns the subgraph, so a value read only inside an If branch stays alive.
func NewIndex(g *Graph) *Index {
	ix := &Index{g: g, producer: map[string]*Node{}, consumers: map[string][]*Node{},
		init: map[string]*Initializer{}, inputs: map[string]bool{}, outputs: map[string]bool{}}
	for _, in := range g.Initializers {
		ix.init[in.Name] = in
	}
	for _, v := range g.Inputs {
		ix.inputs[v.Name] = true
	}
	for _, v := range g.Outputs {
		ix.outputs[v.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			ix.producer[o] = n
		}
		seen := map[string]bool{}
		for _, in := range nodeUses(n) {
			if in == "" || seen[in] {
				continue
			}
			seen[in] = true
			ix.consumers[in] = append(ix.consumers[in], n)
		}
	}
	return ix
}

// nodeUses lists the values a node reads: its inputs and any outer values its
// subgraphs read.
func nodeUses(n *Node) []string {
	uses := append([]string(nil), n.Inputs...)
	for _, k := range sortedKeys(n.Subgraphs) {
		uses = append(uses, FreeValues(n.Subgraphs[k])...)
	}
	return uses
}

// FreeValues lists the values a (sub)graph reads but does not define, in
// first-use order.
func FreeValues(g *Graph) []string {
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for _, in := range g.Initializers {
		defined[in.Name] = true
	}
	var free []string
	seen := map[string]bool{}
	use := func(v string) {
		if v != "" && !defined[v] && !seen[v] {
			seen[v] = true
			free = append(free, v)
		}
	}
	for _, n := range g.Nodes {
		for _, v := range nodeUses(n) {
			use(v)
		}
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	for _, v := range g.Outputs {
		use(v.Name)
	}
	return free
}

// Producer returns the node that outputs value v, or nil for graph inputs,
// initializers and unknown names.
func (ix *Index) Producer(v string) *Node { return ix.producer[v] }

// Consumers returns the nodes that read value v, in graph order.
func (ix *Index) Consumers(v string) []*Node { return ix.consumers[v] }

// Initializer returns the initializer named v, or nil.
func (ix *Index) Initializer(v string) *Initializer { return ix.init[v] }

// IsInput reports whether v is a graph input.
func (ix *Index) IsInput(v string) bool { return ix.inputs[v] }

// IsOutput reports whether v is a graph output.
func (ix *Index) IsOutput(v string) bool { return ix.outputs[v] }

// Uses counts the readers of v, counting a graph output as one reader.
func (ix *Index) Uses(v string) int {
	n := len(ix.consumers[v])
	if ix.outputs[v] {
		n++
	}
	return n
}

// Errorf builds an error that names the node it is about.
func nodeErr(n *Node, format string, args ...any) error {
	return fmt.Errorf("node %q (%s): %s", n.Name, n.Op, fmt.Sprintf(format, args...))
}
