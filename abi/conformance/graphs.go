package conformance

import (
	"encoding/binary"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// Sample is a named graph the checks run a pass on.
type Sample struct {
	Name  string
	Graph *graph.Graph
}

// Graphs returns the graphs every pass must handle without failing: an
// empty one, and small valid decoder fragments in the primitive forms
// builders emit (docs/graph-forms.md) — some with matches for common
// passes, some with near-misses.
func Graphs() []Sample {
	hidden := graph.T(graph.F32, graph.S(graph.DimBatch), graph.S(graph.DimSeq), graph.D(8))
	ones := f32s(1, 1, 1, 1, 1, 1, 1, 1)
	return []Sample{
		{"empty graph", &graph.Graph{Name: "empty"}},
		{"identity", &graph.Graph{
			Name:    "identity",
			Inputs:  []graph.ValueInfo{{Name: "x", Type: hidden}},
			Outputs: []graph.ValueInfo{{Name: "y", Type: hidden}},
			Nodes:   []*graph.Node{{Name: "id", Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		}},
		{"rms norm, dropout, silu gate", &graph.Graph{
			Name:   "block",
			Inputs: []graph.ValueInfo{{Name: "x", Type: hidden}},
			Outputs: []graph.ValueInfo{
				{Name: "y", Type: hidden},
				{Name: "z", Type: hidden},
			},
			Initializers: []*graph.Initializer{
				{Name: "w", Type: graph.T(graph.F32, graph.D(8)), Data: ones},
				{Name: "eps", Type: graph.T(graph.F32), Data: f32s(1e-6)},
				{Name: "two", Type: graph.T(graph.F32), Data: f32s(2)},
			},
			Nodes: []*graph.Node{
				{Name: "pow", Op: "Pow", Inputs: []string{"x", "two"}, Outputs: []string{"sq"}, Scope: "model.norm"},
				{Name: "mean", Op: "ReduceMean", Inputs: []string{"sq"}, Outputs: []string{"ms"},
					Attrs: map[string]graph.Attr{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, Scope: "model.norm"},
				{Name: "add", Op: "Add", Inputs: []string{"ms", "eps"}, Outputs: []string{"var"}, Scope: "model.norm"},
				{Name: "rsqrt", Op: "Rsqrt", Inputs: []string{"var"}, Outputs: []string{"inv"}, Scope: "model.norm"},
				{Name: "scale", Op: "Mul", Inputs: []string{"x", "inv"}, Outputs: []string{"normed"}, Scope: "model.norm"},
				{Name: "weigh", Op: "Mul", Inputs: []string{"w", "normed"}, Outputs: []string{"n"}, Scope: "model.norm"},
				{Name: "drop", Op: "Dropout", Inputs: []string{"n"}, Outputs: []string{"y"},
					Attrs: map[string]graph.Attr{"rate": graph.Float(0.1)}, Scope: "model.dropout"},
				{Name: "silu", Op: "Silu", Inputs: []string{"x"}, Outputs: []string{"g"}, Scope: "model.mlp"},
				{Name: "gate", Op: "Mul", Inputs: []string{"g", "y"}, Outputs: []string{"z"}, Scope: "model.mlp"},
			},
			Metadata: map[string]string{graph.MetaArchitecture: "Sample", graph.MetaNumLayers: "1"},
		}},
		{"if branches", &graph.Graph{
			Name: "merged",
			Inputs: []graph.ValueInfo{
				{Name: "x", Type: hidden},
				{Name: graph.UseCacheBranch, Type: graph.T(graph.Bool, graph.D(1))},
			},
			Outputs: []graph.ValueInfo{{Name: "y", Type: hidden}},
			Nodes: []*graph.Node{{Name: "branch", Op: "If", Inputs: []string{graph.UseCacheBranch}, Outputs: []string{"y"},
				Subgraphs: map[string]*graph.Graph{
					"then_branch": {Outputs: []graph.ValueInfo{{Name: "t", Type: hidden}},
						Nodes: []*graph.Node{{Name: "then_drop", Op: "Dropout", Inputs: []string{"x"}, Outputs: []string{"t"}}}},
					"else_branch": {Outputs: []graph.ValueInfo{{Name: "e", Type: hidden}},
						Nodes: []*graph.Node{{Name: "else_neg", Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"e"}}}},
				}}},
		}},
	}
}

func f32s(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
