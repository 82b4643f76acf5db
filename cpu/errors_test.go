package cpu

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func symGraph() *graph.Graph {
	return &graph.Graph{Name: "sym",
		Inputs: []graph.ValueInfo{
			{Name: "a", Type: graph.T(graph.F32, graph.S("batch"), graph.D(3))},
			{Name: "b", Type: graph.T(graph.F32, graph.S("batch"), graph.D(3))},
			{Name: "m", Type: graph.T(graph.I64, graph.S("batch"), graph.S("past+seq"))},
			{Name: "s", Type: graph.T(graph.I64, graph.S("batch"), graph.S("seq"))},
			{Name: "p", Type: graph.T(graph.F32, graph.S("batch"), graph.S("past"))},
		},
		Nodes:   []*graph.Node{{Name: "add", Op: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"y"}}},
		Outputs: []graph.ValueInfo{{Name: "y"}},
	}
}

func TestBadInputs(t *testing.T) {
	p, err := Compile(symGraph(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	good := func() map[string]*tensor.Tensor {
		return map[string]*tensor.Tensor{
			"a": tensor.New(graph.F32, 2, 3), "b": tensor.New(graph.F32, 2, 3),
			"m": tensor.New(graph.I64, 2, 5), "s": tensor.New(graph.I64, 2, 3), "p": tensor.New(graph.F32, 2, 2),
		}
	}
	if _, err := p.Run(context.Background(), good()); err != nil {
		t.Fatalf("good inputs: %v", err)
	}
	tests := []struct {
		name string
		edit func(map[string]*tensor.Tensor)
		want string
	}{
		{"missing", func(m map[string]*tensor.Tensor) { delete(m, "b") }, `input "b" (f32[batch,3]) is missing`},
		{"dtype", func(m map[string]*tensor.Tensor) { m["a"] = tensor.New(graph.I64, 2, 3) }, `input "a" is i64[2 3], want f32[batch,3]`},
		{"static dim", func(m map[string]*tensor.Tensor) { m["a"] = tensor.New(graph.F32, 2, 4) }, `input "a" dim 1 is 4, want 3`},
		{"symbol", func(m map[string]*tensor.Tensor) { m["b"] = tensor.New(graph.F32, 1, 3) }, `but batch = `},
		{"sum", func(m map[string]*tensor.Tensor) { m["m"] = tensor.New(graph.I64, 2, 4) }, `input "m" dim 1 (past+seq) is 4, want 5`},
		{"unknown", func(m map[string]*tensor.Tensor) { m["zz"] = tensor.New(graph.F32) }, `"zz" is not an input of the graph`},
	}
	for _, tt := range tests {
		in := good()
		tt.edit(in)
		_, err := p.Run(context.Background(), in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	g := symGraph()
	g.Nodes[0].Op = "NoSuchOp"
	if _, err := Compile(g, Options{}); err == nil {
		t.Error("unknown op compiled")
	}
	// A known op the runtime lacks would wrap backend.ErrUnsupported; every
	// catalog op is supported, which this checks.
	var missing []string
	have := map[string]bool{}
	for _, op := range Ops() {
		have[op] = true
	}
	for _, s := range graph.Ops() {
		if !have[s.Name] {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		t.Errorf("catalog ops the cpu runtime lacks: %v", missing)
	}
	if err := (backend.Capabilities{Name: "cpu", Ops: []string{"Add"}}).Check(g); !errors.Is(err, backend.ErrUnsupported) {
		t.Errorf("capabilities check: %v", err)
	}
	// Derived initializers must be materialised first.
	d := &graph.Graph{Name: "derived",
		Initializers: []*graph.Initializer{
			{Name: "w", Type: graph.T(graph.F32, graph.D(64), graph.D(64)), Data: make([]byte, 64*64*4)},
			{Name: "q", Type: graph.T(graph.U32, graph.D(64), graph.D(8)), Derive: &graph.Derivation{Op: "affine_quantize", Source: "w", Output: 0}}},
		Nodes:   []*graph.Node{{Name: "id", Op: "Identity", Inputs: []string{"q"}, Outputs: []string{"y"}}},
		Outputs: []graph.ValueInfo{{Name: "y"}}}
	if _, err := Compile(d, Options{}); err == nil || !strings.Contains(err.Error(), "Materialize") {
		t.Errorf("derived initializer: %v", err)
	}
}

func TestOutputsBelongToCaller(t *testing.T) {
	// Outputs of one run must survive the next run (buffers are pooled).
	g := opGraph("Add", nil, []*tensor.Tensor{tensor.New(graph.F32, 64), tensor.New(graph.F32, 64)})
	p, err := Compile(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	one := tensor.FromF32([]int{64}, make([]float32, 64))
	for i := range one.F32() {
		one.F32()[i] = 1
	}
	first, err := p.Run(context.Background(), map[string]*tensor.Tensor{"x0": one, "x1": one})
	if err != nil {
		t.Fatal(err)
	}
	keep := first["y"].Clone()
	for i := 0; i < 3; i++ {
		if _, err := p.Run(context.Background(), map[string]*tensor.Tensor{"x0": first["y"], "x1": first["y"]}); err != nil {
			t.Fatal(err)
		}
	}
	if !tensor.Equal(first["y"], keep) {
		t.Fatal("a later run overwrote an earlier run's output")
	}
}

func TestCancelledContext(t *testing.T) {
	g := opGraph("Neg", nil, []*tensor.Tensor{tensor.New(graph.F32, 4)})
	p, _ := Compile(g, Options{})
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Run(ctx, map[string]*tensor.Tensor{"x0": tensor.New(graph.F32, 4)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}

func TestProfileOpTimes(t *testing.T) {
	g := opGraph("Neg", nil, []*tensor.Tensor{tensor.New(graph.F32, 4)})
	p, err := Compile(g, Options{Profile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), map[string]*tensor.Tensor{"x0": tensor.New(graph.F32, 4)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.OpTimes()["Neg"]; !ok {
		t.Errorf("no time recorded for Neg: %v", p.OpTimes())
	}
}
