package sdk_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestViewConstants(t *testing.T) {
	b := passtest.NewBuilder("consts")
	x := b.Input("x", graph.F32, graph.D(4))
	half := b.Init("half", graph.F16, []int64{2}, []float64{0.5, -2})
	bf := b.Init("bf", graph.BF16, []int64{1}, []float64{3.140625})
	fill := b.Op("Constant", A{"dtype": graph.String("f32"), "shape": graph.Ints(2, 2), "values": graph.Floats(7)})
	vals := b.Op("Constant", A{"dtype": graph.String("i64"), "shape": graph.Ints(3), "values": graph.Floats(1, 2, 3)})
	cast := b.Op("Cast", A{"to": graph.String("f32")}, b.Op("Reshape", A{"shape": graph.Ints(2, 1)}, half))
	big := b.Weight("weight", graph.F32, 4)
	y := b.Op("Mul", nil, x, big)
	b.Output(y, fill, vals, cast, bf)
	g := b.MustBuild(t)
	v, err := sdk.NewView(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value string
		want  []float64
	}{
		{half, []float64{0.5, -2}},
		{bf, []float64{3.140625}},
		{fill, []float64{7, 7, 7, 7}},
		{vals, []float64{1, 2, 3}},
		{cast, []float64{0.5, -2}},
		{big, nil},
		{x, nil},
		{y, nil},
	}
	for _, tc := range tests {
		c := v.Const(tc.value)
		if tc.want == nil {
			if c != nil {
				t.Errorf("Const(%s) = %v, want none", tc.value, c.Values)
			}
			continue
		}
		if c == nil || !reflect.DeepEqual(c.Values, tc.want) {
			t.Errorf("Const(%s) = %v, want %v", tc.value, c, tc.want)
		}
	}
	if s, ok := v.Scalar(bf); !ok || s != 3.140625 {
		t.Errorf("Scalar(bf) = %v %v", s, ok)
	}
	if !v.TracesTo(cast, half, "Cast", "Reshape") || v.TracesTo(cast, half, "Cast") {
		t.Errorf("TracesTo through Cast and Reshape")
	}
	if p := v.Producer(y); p == nil || p.Op != "Mul" || len(v.Consumers(x)) != 1 || v.Uses(y) != 1 || !v.IsOutput(y) || !v.IsInput(x) {
		t.Errorf("index: producer %v consumers %v", p, v.Consumers(x))
	}
}

func TestViewDead(t *testing.T) {
	// a → b → c (output), b → d (output): removing c's producer kills c
	// only; dropping the output d too kills b's readers, then b.
	bld := passtest.NewBuilder("dead")
	x := bld.Input("x", graph.F32, graph.D(2))
	a := bld.Node("Neg", nil, x)
	bn := bld.Node("Abs", nil, a.Outputs[0])
	c := bld.Node("Exp", nil, bn.Outputs[0])
	d := bld.Node("Neg", nil, bn.Outputs[0])
	bld.Output(c.Outputs[0], d.Outputs[0])
	g := bld.MustBuild(t)
	v, _ := sdk.NewView(g, nil)
	dead := v.Dead([]*graph.Node{g.Node(c.Name)}, nil)
	if len(dead) != 1 {
		t.Errorf("dead = %v, want only c", dead)
	}
	dead = v.Dead([]*graph.Node{g.Node(c.Name)}, []string{d.Outputs[0]})
	if len(dead) != 4 {
		t.Errorf("%d dead, want all 4", len(dead))
	}
	if v.ReadBy(x, dead, []string{d.Outputs[0]}) || !v.ReadBy(x, map[*graph.Node]bool{}, nil) {
		t.Errorf("ReadBy")
	}
}

func TestServe(t *testing.T) {
	type opts struct {
		Bits int `json:"bits" doc:"bits" enum:"4,8"`
	}
	p := &sdk.Pass{Name: "p", Version: "1.2.3", Description: "d", Options: &opts{Bits: 4},
		Consumes: []string{"Neg"}, Produces: []string{"Abs"},
		Rules: []sdk.Rule{{Pattern: sdk.Op("Neg", sdk.Any("x")), Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			if sdk.Options[opts](m.Context()).Bits != 8 {
				rw.Skip("bits %d", sdk.Options[opts](m.Context()).Bits)
				return nil
			}
			rw.Replace(m.Root(), rw.Add("Abs", []string{m.Value("x")}, nil))
			return nil
		}}}}
	info := p.PassInfo()
	if info.ABIVersion != abi.Version1 || info.Name != "p" || info.Version != "1.2.3" || !strings.Contains(info.OptionsSchemaJSON, `"bits"`) {
		t.Errorf("info %+v", info)
	}
	b := passtest.NewBuilder("g")
	b.Output(b.Op("Neg", nil, b.Input("x", graph.F32, graph.D(2))))
	g := b.MustBuild(t)
	req, _ := passtest.Request(g, `{"bits": 8}`)
	if resp := p.Serve(req); resp.Error != nil || len(resp.Patch.Rewrites) != 1 {
		t.Errorf("serve: %+v", resp)
	}
	req, _ = passtest.Request(g, "")
	if resp := p.Serve(req); resp.Error != nil || len(resp.Patch.Rewrites) != 0 || len(resp.Notes) != 1 || resp.Notes[0].Message != "bits 4" {
		t.Errorf("serve with defaults: %s", passtest.Describe(resp))
	}
	req.ABIVersion = 2
	if resp := p.Serve(req); resp.Error == nil || resp.Error.Code != abi.CodeUnsupportedABI {
		t.Errorf("ABI v2 request: %+v", resp.Error)
	}
	req.ABIVersion, req.Graph = abi.Version1, nil
	if resp := p.Serve(req); resp.Error == nil || resp.Error.Code != abi.CodeInvalidGraph {
		t.Errorf("no graph: %+v", resp.Error)
	}
	req, _ = passtest.Request(g, `{"bits": 5}`)
	if resp := p.Serve(req); resp.Error == nil || resp.Error.Code != abi.CodeInvalidOptions || !strings.Contains(resp.Error.Message, "not one of 4, 8") {
		t.Errorf("bad option: %+v", resp.Error)
	}
}
