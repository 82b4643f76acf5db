package graph

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func scalar(name string, v float32) *Initializer {
	b := make([]byte, 4)
	u := mathFloat32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	return &Initializer{Name: name, Type: T(F32), Data: b}
}

// rmsGraph is x → RMSNorm written in primitives → y, plus a side output.
func rmsGraph() *Graph {
	return &Graph{Name: "rms",
		Inputs:       []ValueInfo{{"x", T(F32, S("batch"), S("seq"), D(8))}},
		Outputs:      []ValueInfo{{"y", T(F32, S("batch"), S("seq"), D(8))}},
		Initializers: []*Initializer{{Name: "w", Type: T(BF16, D(8))}, scalar("two", 2), scalar("eps", 1e-6)},
		Nodes: []*Node{
			{Name: "pow", Op: "Pow", Inputs: []string{"x", "two"}, Outputs: []string{"x2"}, Scope: "norm"},
			{Name: "mean", Op: "ReduceMean", Inputs: []string{"x2"}, Outputs: []string{"m"}, Attrs: map[string]Attr{"axes": Ints(-1)}},
			{Name: "add", Op: "Add", Inputs: []string{"m", "eps"}, Outputs: []string{"me"}},
			{Name: "rs", Op: "Rsqrt", Inputs: []string{"me"}, Outputs: []string{"r"}},
			{Name: "mul", Op: "Mul", Inputs: []string{"x", "r"}, Outputs: []string{"xn"}},
			{Name: "mulw", Op: "Mul", Inputs: []string{"w", "xn"}, Outputs: []string{"y"}},
		}}
}

func fusePatch() *Patch {
	return &Patch{Rewrites: []Rewrite{{Reason: "RMSNorm at norm",
		RemoveNodes: []string{"mulw"},
		AddNodes:    []*Node{{Name: "rms", Op: "RMSNorm", Inputs: []string{"x", "w"}, Outputs: []string{"y_fused"}, Attrs: map[string]Attr{"eps": Float(1e-6)}}},
		Remaps:      []Remap{{"y", "y_fused"}},
	}}}
}

func TestApplyFusesAndKeepsOriginal(t *testing.T) {
	g := rmsGraph()
	before := g.Clone()
	out, err := Apply(g, fusePatch())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, before) {
		t.Fatal("Apply modified its input graph")
	}
	ops := out.OpCounts()
	// DCE removed the primitive chain; the fused node took over the output's name.
	if ops["RMSNorm"] != 1 || len(ops) != 1 || out.Nodes[0].Outputs[0] != "y" {
		t.Fatalf("ops after fuse: %v", ops)
	}
	if out.Outputs[0].Name != "y" {
		t.Fatalf("output renamed to %q", out.Outputs[0].Name)
	}
	if len(out.Initializers) != 1 || out.Initializers[0].Name != "w" {
		t.Fatalf("DCE kept initializers %v", out.Initializers)
	}
}

func TestApplyRejects(t *testing.T) {
	base := rmsGraph()
	tests := []struct {
		name  string
		patch Rewrite
		want  string
	}{
		{"missing node", Rewrite{RemoveNodes: []string{"nope"}}, "does not exist"},
		{"removed twice", Rewrite{RemoveNodes: []string{"mul", "mul"}}, "removed twice"},
		{"dangling input", Rewrite{AddNodes: []*Node{{Name: "n", Op: "Neg", Inputs: []string{"ghost"}, Outputs: []string{"z"}}}, Remaps: []Remap{{"y", "z"}}}, "not defined"},
		{"dangling remap", Rewrite{Remaps: []Remap{{"y", "ghost"}}}, "not defined"},
		{"self remap", Rewrite{Remaps: []Remap{{"y", "y"}}}, "itself"},
		{"duplicate node name", Rewrite{AddNodes: []*Node{{Name: "mul", Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"z"}}}}, "already in use"},
		{"duplicate value", Rewrite{AddNodes: []*Node{{Name: "n", Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"r"}}}}, "already in use"},
		{"unknown op", Rewrite{AddNodes: []*Node{{Name: "n", Op: "Frobnicate", Inputs: []string{"x"}, Outputs: []string{"z"}}}, Remaps: []Remap{{"y", "z"}}}, "unknown op"},
		{"dtype change", Rewrite{AddNodes: []*Node{{Name: "n", Op: "Cast", Inputs: []string{"x"}, Outputs: []string{"z"}, Attrs: map[string]Attr{"to": String("bf16")}}}, Remaps: []Remap{{"y", "z"}}}, "declared f32"},
		{"shape change", Rewrite{AddNodes: []*Node{{Name: "n", Op: "ReduceSum", Inputs: []string{"x"}, Outputs: []string{"z"}, Attrs: map[string]Attr{"axes": Ints(-1)}}}, Remaps: []Remap{{"y", "z"}}}, "declared"},
		{"cycle", Rewrite{AddNodes: []*Node{
			{Name: "a", Op: "Neg", Inputs: []string{"bv"}, Outputs: []string{"av"}},
			{Name: "b", Op: "Neg", Inputs: []string{"av"}, Outputs: []string{"bv"}}}, Remaps: []Remap{{"y", "av"}}}, "cycle"},
		{"removed input still used", Rewrite{RemoveInputs: []string{"x"}}, "still read"},
		{"unknown output", Rewrite{RemoveOutputs: []string{"z"}}, "does not exist"},
		{"file ref", Rewrite{AddInitializers: []*Initializer{{Name: "c", Type: T(F32, D(1)), Ref: &WeightRef{File: "/etc/passwd", Length: 4}}}}, "cannot point at files"},
		{"oversized inline", Rewrite{AddInitializers: []*Initializer{{Name: "c", Type: T(U8, D(InlineLimit+1)), Data: make([]byte, InlineLimit+1)}}}, "exceed"},
		{"bad inline size", Rewrite{AddInitializers: []*Initializer{{Name: "c", Type: T(F32, D(2)), Data: make([]byte, 4)}}}, "needs 8"},
		{"derive from non-initializer", Rewrite{AddInitializers: []*Initializer{{Name: "c", Type: T(U32, D(8), D(1)), Derive: &Derivation{Op: "affine_quantize", Source: "x"}}}}, "not an initializer"},
		{"empty initializer", Rewrite{AddInitializers: []*Initializer{{Name: "c", Type: T(F32, D(1))}}}, "neither data nor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := base.Clone()
			_, err := Apply(g, &Patch{Rewrites: []Rewrite{tt.patch}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want error containing %q", err, tt.want)
			}
			if !errors.Is(err, ErrPatch) {
				t.Fatalf("error does not wrap ErrPatch: %v", err)
			}
			if !reflect.DeepEqual(g, base) {
				t.Fatal("graph changed by a rejected patch")
			}
		})
	}
}

func TestApplyRemapOutputToInput(t *testing.T) {
	g := rmsGraph()
	out, err := Apply(g, &Patch{Rewrites: []Rewrite{{Reason: "identity", RemoveNodes: []string{"mulw"}, Remaps: []Remap{{"y", "x"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.OpCounts()["Identity"] != 1 || out.Outputs[0].Name != "y" || out.Input("x") == nil {
		t.Fatalf("got %v outputs %v", out.OpCounts(), out.Outputs)
	}
}

func TestApplyIOEdits(t *testing.T) {
	g := rmsGraph()
	g.Inputs = append(g.Inputs, ValueInfo{"unused", T(F32, D(1))})
	g.Outputs = append(g.Outputs, ValueInfo{"r", T(F32, S("batch"), S("seq"), D(1))})
	out, err := Apply(g, &Patch{Rewrites: []Rewrite{{Reason: "drop", RemoveInputs: []string{"unused"}, RemoveOutputs: []string{"r"},
		SetOutputTypes: []ValueInfo{{"y", T(F32, S("batch"), S("seq"), D(8))}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Inputs) != 1 || len(out.Outputs) != 1 {
		t.Fatalf("io: %v %v", out.Inputs, out.Outputs)
	}
}

func TestIfScoping(t *testing.T) {
	kv := T(F32, S("batch"), D(2), S("past"), D(4))
	k := T(F32, S("batch"), D(2), S("seq"), D(4))
	g := &Graph{Name: "if",
		Inputs:  []ValueInfo{{"use_cache_branch", T(Bool, D(1))}, {"past", kv}, {"k", k}},
		Outputs: []ValueInfo{{"present", T(F32, S("batch"), D(2), S("past+seq"), D(4))}},
		Nodes: []*Node{{Name: "if0", Op: "If", Inputs: []string{"use_cache_branch"}, Outputs: []string{"present"},
			Subgraphs: map[string]*Graph{
				"then_branch": {Outputs: []ValueInfo{{Name: "cat"}}, Nodes: []*Node{{Name: "cat", Op: "Concat", Inputs: []string{"past", "k"}, Outputs: []string{"cat"}, Attrs: map[string]Attr{"axis": Int(2)}}}},
				"else_branch": {Outputs: []ValueInfo{{Name: "id"}}, Nodes: []*Node{{Name: "id", Op: "Identity", Inputs: []string{"k"}, Outputs: []string{"id"}}}},
			}}}}
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(g)
	if c := ix.Consumers("past"); len(c) != 1 || c[0].Name != "if0" {
		t.Fatalf("subgraph reads not counted as uses: %v", c)
	}
	if n := DCE(g); n != 0 {
		t.Fatalf("DCE removed %d live nodes", n)
	}
	if g.NumNodes() != 3 {
		t.Fatalf("NumNodes = %d", g.NumNodes())
	}
	// Inline the then branch the way if_present does.
	out, err := Apply(g, &Patch{Rewrites: []Rewrite{{Reason: "if_present",
		RemoveNodes:  []string{"if0"},
		AddNodes:     []*Node{{Name: "cat", Op: "Concat", Inputs: []string{"past", "k"}, Outputs: []string{"cat"}, Attrs: map[string]Attr{"axis": Int(2)}}},
		Remaps:       []Remap{{"present", "cat"}},
		RemoveInputs: []string{"use_cache_branch"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.OpCounts()["If"] != 0 || out.Input("use_cache_branch") != nil {
		t.Fatalf("If not inlined: %v", out.OpCounts())
	}
	// A branch that disagrees in rank is rejected.
	bad := g.Clone()
	bad.Nodes[0].Subgraphs["else_branch"].Nodes[0] = &Node{Name: "id", Op: "ReduceSum", Inputs: []string{"k"}, Outputs: []string{"id"}, Attrs: map[string]Attr{"axes": Ints(0), "keepdims": Int(0)}}
	if err := Verify(bad); err == nil || !strings.Contains(err.Error(), "else_branch") {
		t.Fatalf("rank mismatch accepted: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *Graph)
		want   string
	}{
		{"duplicate node", func(g *Graph) { g.Nodes[1].Name = "pow" }, "used twice"},
		{"unnamed node", func(g *Graph) { g.Nodes[1].Name = "" }, "no name"},
		{"misordered", func(g *Graph) { g.Nodes[0], g.Nodes[1] = g.Nodes[1], g.Nodes[0] }, "not defined before"},
		{"cycle", func(g *Graph) { g.Nodes[0].Inputs[0] = "y" }, "cycle"},
		{"missing output", func(g *Graph) { g.Outputs[0].Name = "ghost" }, "not defined"},
		{"redefined value", func(g *Graph) { g.Nodes[1].Outputs[0] = "x" }, "defined twice"},
		{"bad initializer", func(g *Graph) { g.Initializers[1].Data = []byte{1} }, "needs 4"},
		{"symbolic initializer", func(g *Graph) { g.Initializers[0].Type = T(F32, S("seq")) }, "non-static"},
		{"missing attr", func(g *Graph) { delete(g.Nodes[1].Attrs, "axes") }, "missing required"},
		{"wrong attr kind", func(g *Graph) { g.Nodes[1].Attrs["axes"] = Int(1) }, "want ints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := rmsGraph()
			tt.mutate(g)
			if err := Verify(g); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTopoSortStable(t *testing.T) {
	g := rmsGraph()
	// Move the final node first; sorting must restore a valid order and keep
	// independent nodes in their existing relative order.
	g.Nodes = append([]*Node{g.Nodes[5]}, g.Nodes[:5]...)
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range g.Nodes {
		names = append(names, n.Name)
	}
	if got := strings.Join(names, ","); got != "pow,mean,add,rs,mul,mulw" {
		t.Fatalf("order %s", got)
	}
	g.Nodes[0].Inputs[0] = "y"
	snapshot := g.Clone()
	if err := TopoSort(g); !errors.Is(err, ErrCycle) {
		t.Fatalf("cycle not detected: %v", err)
	}
	if !reflect.DeepEqual(g, snapshot) {
		t.Fatal("failed TopoSort changed the graph")
	}
}

func TestDCEKeepsDerivationSources(t *testing.T) {
	g := &Graph{
		Inputs:  []ValueInfo{{"x", T(F32, D(1), D(64))}},
		Outputs: []ValueInfo{{"y", T(F32, D(1), D(128))}},
		Initializers: []*Initializer{
			{Name: "W", Type: T(BF16, D(128), D(64))},
			{Name: "Wq", Type: T(U32, D(128), D(8)), Derive: &Derivation{Op: "affine_quantize", Source: "W", Output: 0}},
			{Name: "Ws", Type: T(BF16, D(128), D(1)), Derive: &Derivation{Op: "affine_quantize", Source: "W", Output: 1}},
			{Name: "Wb", Type: T(BF16, D(128), D(1)), Derive: &Derivation{Op: "affine_quantize", Source: "W", Output: 2}},
			{Name: "dead", Type: T(F32, D(3))},
		},
		Nodes: []*Node{{Name: "qmm", Op: "QuantizedMatMul", Inputs: []string{"x", "Wq", "Ws", "Wb"}, Outputs: []string{"y"}}},
	}
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	DCE(g)
	var names []string
	for _, in := range g.Initializers {
		names = append(names, in.Name)
	}
	if strings.Join(names, ",") != "W,Wq,Ws,Wb" {
		t.Fatalf("initializers after DCE: %v", names)
	}
}

func TestWriteDOTGolden(t *testing.T) {
	out, err := Apply(rmsGraph(), fusePatch())
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*Graph{"rms_unfused.dot": rmsGraph(), "rms_fused.dot": out} {
		var buf bytes.Buffer
		if err := WriteDOT(&buf, g); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from golden; run go test ./graph -update and review", name)
		}
	}
}
