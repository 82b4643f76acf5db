package cpu

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// opGraph builds a graph with one node of op reading inputs x0, x1, ...
// (graph inputs, or initializers for the indices in consts) and output y.
// A nil entry in ins is an omitted optional input.
func opGraph(op string, attrs map[string]graph.Attr, ins []*tensor.Tensor, consts ...int) *graph.Graph {
	g := &graph.Graph{Name: op}
	isConst := map[int]bool{}
	for _, c := range consts {
		isConst[c] = true
	}
	n := &graph.Node{Name: "n", Op: op, Attrs: attrs, Outputs: []string{"y"}}
	for i, t := range ins {
		if t == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		name := fmt.Sprintf("x%d", i)
		n.Inputs = append(n.Inputs, name)
		if isConst[i] {
			g.Initializers = append(g.Initializers, &graph.Initializer{Name: name, Type: t.Type(), Data: append([]byte{}, t.Bytes()...)})
		} else {
			g.Inputs = append(g.Inputs, graph.ValueInfo{Name: name, Type: t.Type()})
		}
	}
	g.Nodes = []*graph.Node{n}
	g.Outputs = []graph.ValueInfo{{Name: "y"}}
	return g
}

// runGraph compiles g and runs it once on inputs named x0, x1 ... from ins.
func runGraph(t testing.TB, g *graph.Graph, inputs map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	p, err := Compile(g, Options{})
	if err != nil {
		t.Fatalf("compile %s: %v", g.Name, err)
	}
	defer p.Close()
	out, err := p.Run(context.Background(), inputs)
	if err != nil {
		t.Fatalf("run %s: %v", g.Name, err)
	}
	return out
}

// runOp runs a single op and returns its output.
func runOp(t testing.TB, op string, attrs map[string]graph.Attr, ins []*tensor.Tensor, consts ...int) *tensor.Tensor {
	t.Helper()
	g := opGraph(op, attrs, ins, consts...)
	inputs := map[string]*tensor.Tensor{}
	for _, v := range g.Inputs {
		var i int
		fmt.Sscanf(v.Name, "x%d", &i)
		inputs[v.Name] = ins[i]
	}
	return runGraph(t, g, inputs)["y"]
}

func runOpErr(op string, attrs map[string]graph.Attr, ins []*tensor.Tensor) error {
	g := opGraph(op, attrs, ins)
	p, err := Compile(g, Options{})
	if err != nil {
		return err
	}
	defer p.Close()
	inputs := map[string]*tensor.Tensor{}
	for i, t := range ins {
		if t != nil {
			inputs[fmt.Sprintf("x%d", i)] = t
		}
	}
	_, err = p.Run(context.Background(), inputs)
	return err
}

// check compares got against a float64 reference within rel (max-abs over max-ref).
func check(t testing.TB, what string, got *tensor.Tensor, wantShape []int, want []float64, rel float64) {
	t.Helper()
	if !slices.Equal(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, wantShape)
	}
	g := got.ToF64()
	var maxErr, maxRef float64
	worst := 0
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(g[i]) {
			t.Fatalf("%s: [%d] = %g, want %g", what, i, g[i], want[i])
		}
		if math.IsNaN(want[i]) {
			continue
		}
		maxRef = math.Max(maxRef, math.Abs(want[i]))
		if e := math.Abs(g[i] - want[i]); e > maxErr {
			maxErr, worst = e, i
		}
	}
	if maxRef > 0 {
		maxErr /= maxRef
	}
	if maxErr > rel {
		t.Fatalf("%s: rel error %.3g > %.3g at %d: got %g want %g", what, maxErr, rel, worst, g[worst], want[worst])
	}
}

func f64s(t *tensor.Tensor) []float64 { return t.ToF64() }

func randF32(seed uint64, lo, hi float32, shape ...int) *tensor.Tensor {
	return tensor.RandUniform(tensor.NewRand(seed), lo, hi, shape...)
}

// index helpers for references.
func flat(shape []int, idx ...int) int {
	o := 0
	for i, d := range shape {
		o = o*d + idx[i]
	}
	return o
}

func unflat(shape []int, i int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// bcastAt reads element of a broadcast operand at output index idx.
func bcastAt(v []float64, shape []int, idx []int) float64 {
	off := len(idx) - len(shape)
	o := 0
	for i, d := range shape {
		j := idx[off+i]
		if d == 1 {
			j = 0
		}
		o = o*d + j
	}
	return v[o]
}

func attrs(kv ...any) map[string]graph.Attr {
	m := map[string]graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(graph.Attr)
	}
	return m
}
