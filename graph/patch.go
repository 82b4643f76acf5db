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
// Identity node reads it). Remaps compose: a later rewrite may redirect a
// value an earlier one remapped to.
//
// Apply costs time linear in the graph plus the patch, whatever the number
// of rewrites: a pass that fires once per layer must not be quadratic.
func Apply(g *Graph, p *Patch) (*Graph, error) {
	out, _, err := ApplyTypes(g, p)
	return out, err
}

// ApplyTypes is Apply that also returns the type of every value of the
// result, which verifying it inferred (see VerifyTypes).
func ApplyTypes(g *Graph, p *Patch) (*Graph, map[string]TensorType, error) {
	out := g.Clone()
	st := newApplyState(out)
	for i := range p.Rewrites {
		rw := &p.Rewrites[i]
		if err := st.apply(rw); err != nil {
			return nil, nil, fmt.Errorf("%w: rewrite %d (%s): %v", ErrPatch, i, rw.Reason, err)
		}
	}
	st.finish()
	if err := TopoSort(out); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrPatch, err)
	}
	DCE(out)
	var removedInputs []string
	for _, rw := range p.Rewrites {
		removedInputs = append(removedInputs, rw.RemoveInputs...)
	}
	if len(removedInputs) > 0 {
		ix := NewIndex(out)
		for _, name := range removedInputs {
			if c := ix.Consumers(name); len(c) > 0 {
				return nil, nil, fmt.Errorf("%w: removed graph input %q is still read by node %q", ErrPatch, name, c[0].Name)
			}
			if ix.IsOutput(name) {
				return nil, nil, fmt.Errorf("%w: removed graph input %q is still read by a graph output", ErrPatch, name)
			}
		}
	}
	types, err := VerifyTypes(out)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: result does not verify: %v", ErrPatch, err)
	}
	return out, types, nil
}

// applyState holds the indexes Apply keeps up to date across rewrites, so
// that each rewrite costs only its own size.
type applyState struct {
	g         *Graph
	byName    map[string]*Node  // top-level nodes still present
	producer  map[string]*Node  // top-level value → its producer
	defined   map[string]bool   // every value name in use at any level
	nodeNames map[string]bool   // every node name in use at any level
	gone      map[string]bool   // values whose producer was removed and not yet redefined
	removed   map[*Node]bool    // top-level nodes to drop
	remap     map[string]string // uses of key read value instead
	added     []*Node
}

func newApplyState(g *Graph) *applyState {
	st := &applyState{g: g, byName: map[string]*Node{}, producer: map[string]*Node{},
		defined: definedValues(g), nodeNames: allNodeNames(g), gone: map[string]bool{},
		removed: map[*Node]bool{}, remap: map[string]string{}}
	for _, n := range g.Nodes {
		st.byName[n.Name] = n
		for _, o := range n.Outputs {
			st.producer[o] = n
		}
	}
	return st
}

func (st *applyState) apply(rw *Rewrite) error {
	g := st.g
	seen := map[string]bool{}
	for _, name := range rw.RemoveNodes {
		if seen[name] {
			return fmt.Errorf("node %q removed twice", name)
		}
		seen[name] = true
		n := st.byName[name]
		if n == nil {
			return fmt.Errorf("removes node %q, which does not exist (or was already removed)", name)
		}
		delete(st.byName, name)
		st.removed[n] = true
		for _, o := range n.Outputs {
			st.gone[o] = true
			delete(st.producer, o)
		}
		// The node's name and everything inside its subgraphs become free.
		delete(st.nodeNames, name)
		for _, k := range sortedKeys(n.Subgraphs) {
			sg := n.Subgraphs[k]
			for v := range definedValues(sg) {
				delete(st.defined, v)
			}
			for nn := range allNodeNames(sg) {
				delete(st.nodeNames, nn)
			}
		}
	}
	for _, in := range rw.AddInitializers {
		if in == nil || in.Name == "" {
			return fmt.Errorf("adds an unnamed initializer")
		}
		if st.defined[in.Name] {
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
		if d := in.Derive; d != nil && g.Initializer(d.Source) == nil {
			return fmt.Errorf("initializer %q derives from %q, which is not an initializer", in.Name, d.Source)
		}
		st.defined[in.Name] = true
		g.Initializers = append(g.Initializers, in.Clone())
	}
	for _, n := range rw.AddNodes {
		if n == nil || n.Name == "" {
			return fmt.Errorf("adds an unnamed node")
		}
		if st.nodeNames[n.Name] {
			return fmt.Errorf("adds node %q, a name already in use", n.Name)
		}
		c := n.Clone()
		for _, o := range c.Outputs {
			if o == "" {
				return fmt.Errorf("node %q has an empty output name", n.Name)
			}
			if st.defined[o] && !st.gone[o] {
				return fmt.Errorf("node %q defines %q, a name already in use", n.Name, o)
			}
			st.defined[o] = true
			delete(st.gone, o)
			st.producer[o] = c
		}
		st.nodeNames[n.Name] = true
		st.byName[n.Name] = c
		st.added = append(st.added, c)
	}
	for _, m := range rw.Remaps {
		if !st.defined[m.To] {
			return fmt.Errorf("remaps %q to %q, which is not defined", m.From, m.To)
		}
		if m.From == m.To || st.resolve(m.To) == m.From {
			return fmt.Errorf("remaps %q to itself", m.From)
		}
		st.remap[m.From] = m.To
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

// resolve follows remaps to the value a use finally reads.
func (st *applyState) resolve(v string) string {
	for i := 0; i <= len(st.remap); i++ {
		to, ok := st.remap[v]
		if !ok {
			return v
		}
		v = to
	}
	return v // a remap cycle: Verify reports the dangling value
}

// finish drops removed nodes, appends added ones and rewrites every use in
// one walk over the graph.
func (st *applyState) finish() {
	g := st.g
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if !st.removed[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = append(kept, st.added...)
	if len(st.remap) == 0 {
		return
	}
	// Outputs whose producer is gone keep their name: the new value is renamed
	// to it when a node defines it, else an Identity reads the new value.
	rename := map[string]string{} // value definition renamed (new value → output name)
	var identities []*Node
	for i := range g.Outputs {
		o := g.Outputs[i].Name
		t := st.resolve(o)
		if t == o {
			continue
		}
		if !st.gone[o] {
			g.Outputs[i].Name = t
			continue
		}
		if p := st.producer[t]; p != nil && rename[t] == "" && !st.isOutput(t) {
			rename[t] = o
			continue
		}
		identities = append(identities, &Node{Name: uniqueName(st.nodeNames, "keep_"+o), Op: "Identity",
			Inputs: []string{t}, Outputs: []string{o}})
	}
	use := func(v string) string {
		if v == "" {
			return v
		}
		v = st.resolve(v)
		if r, ok := rename[v]; ok {
			return r
		}
		return v
	}
	var walk func(*Graph, bool)
	walk = func(g *Graph, top bool) {
		for _, n := range g.Nodes {
			for i, v := range n.Inputs {
				n.Inputs[i] = use(v)
			}
			if top {
				for i, o := range n.Outputs {
					if r, ok := rename[o]; ok {
						n.Outputs[i] = r
					}
				}
			}
			for _, k := range sortedKeys(n.Subgraphs) {
				sg := n.Subgraphs[k]
				walk(sg, false)
				for i := range sg.Outputs {
					sg.Outputs[i].Name = use(sg.Outputs[i].Name)
				}
			}
		}
	}
	walk(g, true)
	// An Identity may read a value another kept output name took over.
	for _, n := range identities {
		if r, ok := rename[n.Inputs[0]]; ok {
			n.Inputs[0] = r
		}
	}
	g.Nodes = append(g.Nodes, identities...)
}

func (st *applyState) isOutput(v string) bool { return indexOf(st.g.Outputs, v) >= 0 }

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
