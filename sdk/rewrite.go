package sdk

import (
	"strconv"

	"github.com/graphpass/graphpass/graph"
)

// Rewrite builds one rewrite of a patch: nodes removed, nodes added with
// fresh names, remaps, constants, and graph interface changes. It names
// values as the graph the pass received does, so each rewrite can be
// checked on its own against that graph; graph.Apply composes the
// rewrites of a patch whatever order they fire in.
type Rewrite struct {
	ctx       *Context
	rw        graph.Rewrite
	scope     string
	prefix    string
	removed   []*graph.Node
	dying     []*graph.Node
	skip      string
	committed bool
}

// Scope sets the scope of nodes the rewrite adds and the prefix of their
// names (the prefix defaults to the scope).
func (r *Rewrite) Scope(scope, prefix string) *Rewrite {
	r.scope, r.prefix = scope, prefix
	if r.prefix == "" {
		r.prefix = scope
	}
	return r
}

// Reason replaces the rewrite's reason.
func (r *Rewrite) Reason(format string, args ...any) *Rewrite {
	r.rw.Reason = Sprintf(format, args...)
	return r
}

// Skip abandons the rewrite (in a Rule's Rewrite): nothing is committed
// and reason becomes a note on the root node.
func (r *Rewrite) Skip(format string, args ...any) {
	r.skip = Sprintf(format, args...)
}

// Context returns the run.
func (r *Rewrite) Context() *Context { return r.ctx }

func (r *Rewrite) nodeBase(op string) string {
	if r.prefix == "" {
		return op
	}
	return r.prefix + "/" + op
}

// Add adds a node of op reading inputs ("" for an omitted optional input)
// with attrs, and returns its output value.
func (r *Rewrite) Add(op string, inputs []string, attrs map[string]graph.Attr) string {
	return r.AddN(op, inputs, attrs, 1)[0]
}

// AddN adds a node with n outputs and returns them.
func (r *Rewrite) AddN(op string, inputs []string, attrs map[string]graph.Attr, n int) []string {
	name := r.ctx.FreshNodeName(r.nodeBase(op))
	outs := make([]string, n)
	for i := range outs {
		if n == 1 {
			outs[i] = r.ctx.FreshValueName(name)
		} else {
			outs[i] = r.ctx.FreshValueName(name + ":" + strconv.Itoa(i))
		}
	}
	r.AddNode(&graph.Node{Name: name, Op: op, Inputs: inputs, Outputs: outs, Attrs: attrs, Scope: r.scope})
	return outs
}

// AddNode adds n as given. Empty Name, Scope or Outputs are filled in (one
// fresh output); given names must be fresh (see Context.FreshNodeName).
func (r *Rewrite) AddNode(n *graph.Node) *graph.Node {
	c := n.Clone()
	if c.Name == "" {
		c.Name = r.ctx.FreshNodeName(r.nodeBase(c.Op))
	} else {
		nodes, _ := r.ctx.names()
		nodes[c.Name] = true
	}
	if c.Scope == "" {
		c.Scope = r.scope
	}
	if len(c.Outputs) == 0 {
		c.Outputs = []string{r.ctx.FreshValueName(c.Name)}
	}
	_, values := r.ctx.names()
	for _, o := range c.Outputs {
		values[o] = true
	}
	r.rw.AddNodes = append(r.rw.AddNodes, c)
	return c
}

// Remove removes nodes (top-level nodes of the view's graph). Whatever
// reads their outputs must be remapped (see Replace) or die.
func (r *Rewrite) Remove(nodes ...*graph.Node) {
	for _, n := range nodes {
		r.removed = append(r.removed, n)
		r.rw.RemoveNodes = append(r.rw.RemoveNodes, n.Name)
	}
}

// Remap redirects every use of from to to.
func (r *Rewrite) Remap(from, to string) {
	r.rw.Remaps = append(r.rw.Remaps, graph.Remap{From: from, To: to})
}

// Replace removes n and redirects its outputs, in order, to values. This is
// the usual minimal rewrite: the rest of the old subgraph dies on its own
// when nothing else reads it.
func (r *Rewrite) Replace(n *graph.Node, values ...string) {
	r.Remove(n)
	for i, v := range values {
		if i < len(n.Outputs) {
			r.Remap(n.Outputs[i], v)
		}
	}
}

// Const adds an inline initializer of dtype dt and shape with values
// (stored rounded to dt) and returns its fresh name.
func (r *Rewrite) Const(base string, dt graph.DType, shape []int64, values []float64) string {
	name := r.ctx.FreshValueName(r.nodeBase(base))
	r.rw.AddInitializers = append(r.rw.AddInitializers, &graph.Initializer{
		Name: name, Type: graph.TensorType{DType: dt, Shape: graph.StaticShape(shape...)},
		Data: EncodeValues(dt, values)})
	return name
}

// AddInitializer adds in (inline data or a host derivation). An empty name
// gets a fresh one; the name is returned.
func (r *Rewrite) AddInitializer(in *graph.Initializer) string {
	c := in.Clone()
	if c.Name == "" {
		c.Name = r.ctx.FreshValueName(r.nodeBase("const"))
	} else {
		_, values := r.ctx.names()
		values[c.Name] = true
	}
	r.rw.AddInitializers = append(r.rw.AddInitializers, c)
	return c.Name
}

// RemoveInput removes a graph input; nothing may read it afterwards.
func (r *Rewrite) RemoveInput(name string) {
	r.rw.RemoveInputs = append(r.rw.RemoveInputs, name)
}

// RemoveOutput removes a graph output.
func (r *Rewrite) RemoveOutput(name string) {
	r.rw.RemoveOutputs = append(r.rw.RemoveOutputs, name)
}

// SetInputType changes the declared type of a graph input.
func (r *Rewrite) SetInputType(name string, t graph.TensorType) {
	r.rw.SetInputTypes = append(r.rw.SetInputTypes, graph.ValueInfo{Name: name, Type: t})
}

// SetOutputType changes the declared type of a graph output.
func (r *Rewrite) SetOutputType(name string, t graph.TensorType) {
	r.rw.SetOutputTypes = append(r.rw.SetOutputTypes, graph.ValueInfo{Name: name, Type: t})
}

// Kill declares nodes that die with this rewrite (Apply's dead-code
// elimination removes them), so later matches in the run treat them as
// taken. Pattern rules do this for the match automatically.
func (r *Rewrite) Kill(nodes ...*graph.Node) { r.dying = append(r.dying, nodes...) }

// Graph returns the graph.Rewrite built so far (for inspection).
func (r *Rewrite) Graph() graph.Rewrite { return r.rw }
