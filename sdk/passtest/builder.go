package passtest

import (
	"fmt"
	"math/rand"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// A is a node's attributes.
type A = map[string]graph.Attr

// Builder builds small graphs for pass tests, one node per call:
//
//	b := passtest.NewBuilder("rms")
//	x := b.Input("x", graph.F32, graph.S("batch"), graph.D(8))
//	y := b.Op("Mul", nil, x, x)
//	b.Output(y)
//	g := b.MustBuild(t)
//
// Nodes are named "<scope>/<Op>_<k>" and their single output after the node.
type Builder struct {
	g     *graph.Graph
	Scope string // scope of the nodes added next
	count map[string]int
	rng   *rand.Rand
}

// NewBuilder starts an empty graph. Random initializers are seeded
// deterministically.
func NewBuilder(name string) *Builder {
	return &Builder{g: &graph.Graph{Name: name, Metadata: map[string]string{}}, count: map[string]int{}, rng: rand.New(rand.NewSource(1))}
}

// Graph returns the graph built so far (not verified).
func (b *Builder) Graph() *graph.Graph { return b.g }

// Meta sets a metadata entry.
func (b *Builder) Meta(key, value string) { b.g.Metadata[key] = value }

// Input adds a graph input.
func (b *Builder) Input(name string, dt graph.DType, shape ...graph.Dim) string {
	b.g.Inputs = append(b.g.Inputs, graph.ValueInfo{Name: name, Type: graph.T(dt, shape...)})
	return name
}

// Init adds an initializer with inline values (rounded to dt).
func (b *Builder) Init(name string, dt graph.DType, shape []int64, values []float64) string {
	b.g.Initializers = append(b.g.Initializers, &graph.Initializer{Name: name,
		Type: graph.TensorType{DType: dt, Shape: graph.StaticShape(shape...)}, Data: sdk.EncodeValues(dt, values)})
	return name
}

// Scalar adds a rank-0 f32 initializer, as builders emit eps and scales.
func (b *Builder) Scalar(name string, v float64) string {
	return b.Init(name, graph.F32, nil, []float64{v})
}

// Rand adds an initializer of normally distributed values times scale,
// plus shift (e.g. norm weights near 1).
func (b *Builder) Rand(name string, dt graph.DType, shape []int64, scale, shift float64) string {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = b.rng.NormFloat64()*scale + shift
	}
	return b.Init(name, dt, shape, vals)
}

// Weight adds an initializer whose values a pass cannot see (a large
// checkpoint weight as passes receive it: no data, no file).
func (b *Builder) Weight(name string, dt graph.DType, shape ...int64) string {
	b.g.Initializers = append(b.g.Initializers, &graph.Initializer{Name: name,
		Type: graph.TensorType{DType: dt, Shape: graph.StaticShape(shape...)}})
	return name
}

// Op adds a node and returns its (first) output.
func (b *Builder) Op(op string, attrs A, inputs ...string) string {
	return b.OpN(op, attrs, 1, inputs...)[0]
}

// OpN adds a node with n outputs.
func (b *Builder) OpN(op string, attrs A, n int, inputs ...string) []string {
	n0 := b.add(op, attrs, n, inputs)
	return n0.Outputs
}

// Node adds a node and returns it.
func (b *Builder) Node(op string, attrs A, inputs ...string) *graph.Node {
	return b.add(op, attrs, 1, inputs)
}

func (b *Builder) add(op string, attrs A, n int, inputs []string) *graph.Node {
	base := op
	if b.Scope != "" {
		base = b.Scope + "/" + op
	}
	b.count[base]++
	name := fmt.Sprintf("%s_%d", base, b.count[base])
	outs := make([]string, n)
	for i := range outs {
		outs[i] = name
		if n > 1 {
			outs[i] = fmt.Sprintf("%s:%d", name, i)
		}
	}
	node := &graph.Node{Name: name, Op: op, Inputs: inputs, Outputs: outs, Attrs: attrs, Scope: b.Scope}
	b.g.Nodes = append(b.g.Nodes, node)
	return node
}

// Output marks values as graph outputs (types are filled in by Build).
func (b *Builder) Output(values ...string) {
	for _, v := range values {
		b.g.Outputs = append(b.g.Outputs, graph.ValueInfo{Name: v})
	}
}

// OutputAs adds a graph output named name computing value (through an
// Identity node when the names differ).
func (b *Builder) OutputAs(name, value string) {
	if name != value {
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "out/" + name, Op: "Identity", Inputs: []string{value}, Outputs: []string{name}})
	}
	b.Output(name)
}

// Build infers every type, fills in the graph outputs' types and verifies.
func (b *Builder) Build() (*graph.Graph, error) {
	types, err := graph.Infer(b.g)
	if err != nil {
		return nil, err
	}
	for i := range b.g.Outputs {
		b.g.Outputs[i].Type = types[b.g.Outputs[i].Name]
	}
	if err := graph.Verify(b.g); err != nil {
		return nil, err
	}
	return b.g, nil
}

// MustBuild is Build that fails the test on error.
func (b *Builder) MustBuild(t TB) *graph.Graph {
	t.Helper()
	g, err := b.Build()
	if err != nil {
		t.Fatalf("building test graph %s: %v", b.g.Name, err)
	}
	return g
}

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}
