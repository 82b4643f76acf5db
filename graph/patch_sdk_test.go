package graph

import "testing"

// Two graph outputs whose producers are removed and that are remapped to
// the same value: one takes over the value's name, the other reads it
// through an Identity, which must read the value under its new name.
func TestApplyTwoOutputsOneValue(t *testing.T) {
	f := T(F32, D(2))
	g := &Graph{
		Inputs: []ValueInfo{{Name: "x", Type: f}},
		Nodes: []*Node{
			{Name: "n", Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"n"}},
			{Name: "d1", Op: "Dropout", Inputs: []string{"n"}, Outputs: []string{"d1"}},
			{Name: "d2", Op: "Dropout", Inputs: []string{"d1"}, Outputs: []string{"d2"}},
		},
		Outputs: []ValueInfo{{Name: "d1", Type: f}, {Name: "d2", Type: f}},
	}
	out, err := Apply(g, &Patch{Rewrites: []Rewrite{
		{RemoveNodes: []string{"d2"}, Remaps: []Remap{{From: "d2", To: "d1"}}},
		{RemoveNodes: []string{"d1"}, Remaps: []Remap{{From: "d1", To: "n"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Outputs[0].Name != "d1" || out.Outputs[1].Name != "d2" || out.OpCounts()["Dropout"] != 0 {
		t.Errorf("outputs %v, ops %v", out.Outputs, out.OpCounts())
	}
}
