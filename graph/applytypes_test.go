package graph

import (
	"reflect"
	"testing"
)

// TestApplyTypesAndVerifyTypes: the types returned are Infer's.
func TestApplyTypesAndVerifyTypes(t *testing.T) {
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", Type: T(F32, D(2))}},
		Outputs: []ValueInfo{{Name: "z", Type: T(F32, D(2))}},
		Nodes: []*Node{
			{Name: "a", Op: "Neg", Inputs: []string{"x"}, Outputs: []string{"y"}},
			{Name: "b", Op: "Dropout", Inputs: []string{"y"}, Outputs: []string{"z"}},
		},
	}
	vt, err := VerifyTypes(g)
	if want, _ := Infer(g); err != nil || !reflect.DeepEqual(vt, want) {
		t.Fatalf("VerifyTypes = %v, %v", vt, err)
	}
	p := &Patch{Rewrites: []Rewrite{{RemoveNodes: []string{"b"}, Remaps: []Remap{{From: "z", To: "y"}}}}}
	out, types, err := ApplyTypes(g, p)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := Infer(out); !reflect.DeepEqual(types, want) {
		t.Errorf("ApplyTypes types %v, Infer %v", types, want)
	}
	if _, _, err := ApplyTypes(g, &Patch{Rewrites: []Rewrite{{RemoveNodes: []string{"nope"}}}}); err == nil {
		t.Error("bad patch accepted")
	}
}
