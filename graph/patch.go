package graph

import (
	"errors"
	"fmt"
)

// A Patch is what a pass returns: a list of independent rewrites. Passes
// never return whole graphs; the host applies the patch to its own copy and
// verifies the result (see Apply).
type Patch struct {
	Rewrites []Rewrite
}

// Rewrite is one match of a pass: the nodes it removes, the nodes it adds,
// and how uses of removed values are redirected, with the reason it fired.
type Rewrite struct {
	Reason          string         // human-readable, e.g. "RMSNorm at model.layers.0.input_layernorm"
	RemoveNodes     []string       // names of top-level nodes to delete
	AddNodes        []*Node        // new top-level nodes; fresh node and value names
	Remaps          []Remap        // every use of From (node inputs, subgraph reads, graph outputs) reads To instead
	AddInitializers []*Initializer // small inline constants (≤ InlineLimit bytes) or host-derived weights
	RemoveInputs    []string       // graph inputs to delete; nothing may read them afterwards
	RemoveOutputs   []string       // graph outputs to delete
	SetInputTypes   []ValueInfo    // graph inputs whose declared type changes
	SetOutputTypes  []ValueInfo    // graph outputs whose declared type changes
}

// Remap redirects the uses of one value to another.
type Remap struct {
	From, To string
}

// ErrPatch wraps every error Apply returns for a malformed patch.
var ErrPatch = errors.New("invalid patch")

// Apply returns a new graph: g with the patch applied, topologically
// sorted, dead code removed and verified. g itself is never modified, so a
// failing patch leaves the caller's graph exactly as it was.
//
// Graph output names are the graph's interface: when a remap redirects a
// graph output whose producer was removed, the new value takes over the
// output's name (or, if the new value is a graph input or initializer, an
// Identity node reads it). Rewrites of one patch are independent: none may
// refer to values another one adds.
func Apply(g *Graph, p *Patch) (*Graph, error) {
	out := g.Clone()
	for i, rw := range p.Rewrites {
		if err := applyRewrite(out, &rw); err != nil {
			return nil, fmt.Errorf("%w: rewrite %d (%s): %v", ErrPatch, i, rw.Reason, err)
		}
	}
	if err := TopoSort(out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPatch, err)
	}
	DCE(out)
	for _, rw := range p.Rewrites {
		for _, name := range rw.RemoveInputs {
			if free := readersOf(out, name); free != "" {
				return nil, fmt.Errorf("%w: removed graph input %q is still read by %s", ErrPatch, name, free)
			}
		}
	}
	if err := Verify(out); err != nil {
		return nil, fmt.Errorf("%w: result does not verify: %v", ErrPatch, err)
	}
	return out, nil
}

func readersOf(g *Graph, v string) string {
	ix := NewIndex(g)
	if c := ix.Consumers(v); len(c) > 0 {
		return fmt.Sprintf("node %q", c[0].Name)
	}
	if ix.IsOutput(v) {
		return "a graph output"
	}
	return ""
}

func applyRewrite(g *Graph, rw *Rewrite) error {
	removed := map[string]bool{}
	for _, name := range rw.RemoveNodes {
		if removed[name] {
			return fmt.Errorf("node %q removed twice", name)
		}
		removed[name] = true
	}
	// Values that existed before and are gone with their producers.
	gone := map[string]bool{}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if removed[n.Name] {
			for _, o := range n.Outputs {
				gone[o] = true
			}
			delete(removed, n.Name)
			continue
		}
		kept = append(kept, n)
	}
	for name := range removed {
		return fmt.Errorf("removes node %q, which does not exist (or was already removed)", name)
	}
	g.Nodes = kept

	defined := definedValues(g)
	nodeNames := allNodeNames(g)
	for _, in := range rw.AddInitializers {
		if in == nil || in.Name == "" {
			return fmt.Errorf("adds an unnamed initializer")
		}
		if defined[in.Name] {
			return fmt.Errorf("adds initializer %q, a name already in use", in.Name)
		}
		if in.Ref != nil {
			return fmt.Errorf("initializer %q: a pass cannot point at files", in.Name)
		}
		if len(in.Data) > InlineLimit {
			return fmt.Errorf("initializer %q: %d inline bytes exceed %d", in.Name, len(in.Data), InlineLimit)
		}
		if in.Data == nil && in.Derive == nil {
			return fmt.Errorf("initializer %q has neither data nor a derivation", in.Name)
		}
		if err := checkInitializer(in); err != nil {
			return err
		}
		if d := in.Derive; d != nil {
			if g.Initializer(d.Source) == nil {
				return fmt.Errorf("initializer %q derives from %q, which is not an initializer", in.Name, d.Source)
			}
		}
		defined[in.Name] = true
		g.Initializers = append(g.Initializers, in.Clone())
	}
	for _, n := range rw.AddNodes {
		if n == nil || n.Name == "" {
			return fmt.Errorf("adds an unnamed node")
		}
		if nodeNames[n.Name] {
			return fmt.Errorf("adds node %q, a name already in use", n.Name)
		}
		nodeNames[n.Name] = true
		for _, o := range n.Outputs {
			if o == "" {
				return fmt.Errorf("node %q has an empty output name", n.Name)
			}
			if defined[o] && !gone[o] {
				return fmt.Errorf("node %q defines %q, a name already in use", n.Name, o)
			}
			defined[o] = true
			delete(gone, o)
		}
		g.Nodes = append(g.Nodes, n.Clone())
	}
	var keepNames []Remap
	for _, m := range rw.Remaps {
		if !defined[m.To] {
			return fmt.Errorf("remaps %q to %q, which is not defined", m.From, m.To)
		}
		if m.From == m.To {
			return fmt.Errorf("remaps %q to itself", m.From)
		}
		renameUses(g, m.From, m.To)
		for i := range g.Outputs {
			if g.Outputs[i].Name != m.From {
				continue
			}
			if gone[m.From] {
				keepNames = append(keepNames, m)
				delete(gone, m.From)
			} else {
				g.Outputs[i].Name = m.To
			}
		}
	}
	// Graph output names are the interface: a redirected output whose
	// producer is gone takes over the new value's name when a node defines
	// it, else reads it through an Identity.
	for _, m := range keepNames {
		if p := producerOf(g, m.To); p != nil && !isGraphIO(g, m.To) {
			renameValue(g, m.To, m.From)
			continue
		}
		renameUses(g, m.From, m.To)
		g.Nodes = append(g.Nodes, &Node{Name: uniqueName(nodeNames, "keep_"+m.From), Op: "Identity",
			Inputs: []string{m.To}, Outputs: []string{m.From}})
		for i := range g.Outputs {
			if g.Outputs[i].Name == m.To {
				g.Outputs[i].Name = m.From
			}
		}
	}
	for _, name := range rw.RemoveOutputs {
		i := indexOf(g.Outputs, name)
		if i < 0 {
			return fmt.Errorf("removes graph output %q, which does not exist", name)
		}
		g.Outputs = append(g.Outputs[:i], g.Outputs[i+1:]...)
	}
	for _, name := range rw.RemoveInputs {
		i := indexOf(g.Inputs, name)
		if i < 0 {
			return fmt.Errorf("removes graph input %q, which does not exist", name)
		}
		g.Inputs = append(g.Inputs[:i], g.Inputs[i+1:]...)
	}
	for _, v := range rw.SetInputTypes {
		i := indexOf(g.Inputs, v.Name)
		if i < 0 {
			return fmt.Errorf("retypes graph input %q, which does not exist", v.Name)
		}
		g.Inputs[i].Type = v.Type
	}
	for _, v := range rw.SetOutputTypes {
		i := indexOf(g.Outputs, v.Name)
		if i < 0 {
			return fmt.Errorf("retypes graph output %q, which does not exist", v.Name)
		}
		g.Outputs[i].Type = v.Type
	}
	return nil
}

func indexOf(vs []ValueInfo, name string) int {
	for i, v := range vs {
		if v.Name == name {
			return i
		}
	}
	return -1
}

func uniqueName(used map[string]bool, base string) string {
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
}

// renameUses rewrites every read of from into a read of to, including reads
// inside subgraphs (which see outer values), but not inside a subgraph that
// defines its own value named from.
func renameUses(g *Graph, from, to string) {
	for _, n := range g.Nodes {
		for i, v := range n.Inputs {
			if v == from {
				n.Inputs[i] = to
			}
		}
		for _, k := range sortedKeys(n.Subgraphs) {
			sg := n.Subgraphs[k]
			if !definedValues(sg)[from] {
				renameUses(sg, from, to)
				for i := range sg.Outputs {
					if sg.Outputs[i].Name == from {
						sg.Outputs[i].Name = to
					}
				}
			}
		}
	}
}

func definedValues(g *Graph) map[string]bool {
	d := map[string]bool{}
	for _, v := range g.Inputs {
		d[v.Name] = true
	}
	for _, in := range g.Initializers {
		d[in.Name] = true
	}
	var walk func(*Graph)
	walk = func(g *Graph) {
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				d[o] = true
			}
			for _, k := range sortedKeys(n.Subgraphs) {
				walk(n.Subgraphs[k])
			}
		}
	}
	walk(g)
	return d
}

func allNodeNames(g *Graph) map[string]bool {
	names := map[string]bool{}
	var walk func(*Graph)
	walk = func(g *Graph) {
		for _, n := range g.Nodes {
			names[n.Name] = true
			for _, k := range sortedKeys(n.Subgraphs) {
				walk(n.Subgraphs[k])
			}
		}
	}
	walk(g)
	return names
}

func producerOf(g *Graph, v string) *Node {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == v {
				return n
			}
		}
	}
	return nil
}

func isGraphIO(g *Graph, v string) bool {
	return indexOf(g.Inputs, v) >= 0 || g.Initializer(v) != nil
}

// renameValue renames a value defined by a top-level node, with all its uses.
func renameValue(g *Graph, from, to string) {
	for _, n := range g.Nodes {
		for i, o := range n.Outputs {
			if o == from {
				n.Outputs[i] = to
			}
		}
	}
	renameUses(g, from, to)
	for i := range g.Outputs {
		if g.Outputs[i].Name == from {
			g.Outputs[i].Name = to
		}
	}
}
