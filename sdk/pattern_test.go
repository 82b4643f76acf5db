package sdk_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
	"github.com/graphpass/graphpass/sdk/passtest"
)

type A = passtest.A

// fuse returns a pass with one rule that replaces a pattern's root by a
// node of op reading the named values.
func fuse(pat *sdk.Pattern, op string, attrs A, names ...string) *sdk.Pass {
	return &sdk.Pass{Name: "test", Version: "0.0.1", Rules: []sdk.Rule{{
		Pattern: pat,
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			var ins []string
			for _, n := range names {
				ins = append(ins, m.Value(n))
			}
			rw.Replace(m.Root(), rw.Add(op, ins, attrs))
			return nil
		},
	}}}
}

func run(t *testing.T, p *sdk.Pass, g *graph.Graph, opts string) (*sdk.Result, *graph.Graph) {
	t.Helper()
	res, err := p.Run(g, nil, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	out, err := graph.Apply(g, res.Patch)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res, out
}

func swigluPattern() *sdk.Pattern {
	return sdk.Op("Mul", sdk.Op("Silu", sdk.Any("gate")), sdk.Any("up"))
}

func TestCommutativeOperands(t *testing.T) {
	for _, swap := range []bool{false, true} {
		b := passtest.NewBuilder("mlp")
		g0 := b.Input("g", graph.F32, graph.D(2), graph.D(4))
		u := b.Input("u", graph.F32, graph.D(2), graph.D(4))
		s := b.Op("Silu", nil, g0)
		ins := []string{s, u}
		if swap {
			ins = []string{u, s}
		}
		b.Output(b.Op("Mul", nil, ins...))
		g := b.MustBuild(t)
		res, out := run(t, fuse(swigluPattern(), "SwiGLU", nil, "gate", "up"), g, "")
		if len(res.Patch.Rewrites) != 1 {
			t.Fatalf("swap=%v: %d rewrites, want 1", swap, len(res.Patch.Rewrites))
		}
		add := res.Patch.Rewrites[0].AddNodes[0]
		if add.Inputs[0] != g0 || add.Inputs[1] != u {
			t.Errorf("swap=%v: SwiGLU reads %v, want [%s %s]", swap, add.Inputs, g0, u)
		}
		if got := out.OpCounts(); got["SwiGLU"] != 1 || got["Silu"] != 0 || got["Mul"] != 0 {
			t.Errorf("swap=%v: ops after = %v", swap, got)
		}
	}
}

func TestSharedPatternNodeMustBindOneValue(t *testing.T) {
	x := sdk.Any("x")
	pat := sdk.Op("Mul", x, x)
	b := passtest.NewBuilder("sq")
	a := b.Input("a", graph.F32, graph.D(3))
	c := b.Input("c", graph.F32, graph.D(3))
	sq := b.Op("Mul", nil, a, a)
	ac := b.Op("Mul", nil, a, c)
	b.Output(sq, ac)
	g := b.MustBuild(t)
	res, _ := run(t, fuse(pat, "Abs", nil, "x"), g, "")
	if len(res.Patch.Rewrites) != 1 || res.Patch.Rewrites[0].RemoveNodes[0] != b.Graph().Nodes[0].Name {
		t.Fatalf("rewrites = %+v, want only the square", res.Patch.Rewrites)
	}
}

func TestOneOfOptionalAndConstants(t *testing.T) {
	x := sdk.Any("x")
	sq := sdk.OneOf(sdk.Op("Pow", x, sdk.Scalar(2)), sdk.Op("Mul", x, x))
	pat := sdk.Op("Add", sdk.Op("ReduceMean", sq).Attr("axes", graph.Ints(-1)).Attr("keepdims", graph.Int(1)).As("mean"), sdk.Const("eps"))
	tests := []struct {
		name  string
		build func(b *passtest.Builder, x string) string
		want  int
	}{
		{"pow2", func(b *passtest.Builder, x string) string {
			return b.Op("Pow", nil, x, b.Scalar("two", 2))
		}, 1},
		{"mulxx", func(b *passtest.Builder, x string) string { return b.Op("Mul", nil, x, x) }, 1},
		{"pow3", func(b *passtest.Builder, x string) string {
			return b.Op("Pow", nil, x, b.Scalar("three", 3))
		}, 0},
		{"pow2-constant-node", func(b *passtest.Builder, x string) string {
			two := b.Op("Constant", A{"dtype": graph.String("f32"), "shape": graph.Ints(), "values": graph.Floats(2)})
			return b.Op("Pow", nil, x, two)
		}, 1},
		{"pow2-through-cast", func(b *passtest.Builder, x string) string {
			two := b.Init("two64", graph.F64, []int64{1}, []float64{2})
			return b.Op("Pow", nil, x, b.Op("Cast", A{"to": graph.String("f32")}, two))
		}, 1},
		{"pow-weight", func(b *passtest.Builder, x string) string {
			return b.Op("Pow", nil, x, b.Weight("w", graph.F32, 1))
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := passtest.NewBuilder(tc.name)
			xin := b.Input("x", graph.F32, graph.D(2), graph.D(8))
			p := tc.build(b, xin)
			// keepdims omitted: the schema default (1) must satisfy Attr.
			m := b.Op("ReduceMean", A{"axes": graph.Ints(-1)}, p)
			y := b.Op("Add", nil, b.Scalar("eps", 1e-6), m)
			b.Output(y)
			g := b.MustBuild(t)
			res, _ := run(t, fuse(pat, "Identity", nil, "mean"), g, "")
			if len(res.Patch.Rewrites) != tc.want {
				t.Fatalf("%d rewrites, want %d", len(res.Patch.Rewrites), tc.want)
			}
		})
	}
}

func TestOptionalNodeAndLargestMatchFirst(t *testing.T) {
	// y = Add(Mul(x, w), bias) with bias optional: the outer match claims
	// the Mul, so exactly one fused node replaces both.
	pat := sdk.Op("Add", sdk.Op("Mul", sdk.Any("x"), sdk.Initializer("w")), sdk.Initializer("bias")).Optional()
	for _, withBias := range []bool{true, false} {
		b := passtest.NewBuilder("affine")
		x := b.Input("x", graph.F32, graph.D(2), graph.D(4))
		y := b.Op("Mul", nil, x, b.Rand("w", graph.F32, []int64{4}, 1, 0))
		if withBias {
			y = b.Op("Add", nil, b.Rand("b", graph.F32, []int64{4}, 1, 0), y)
		}
		b.Output(y)
		g := b.MustBuild(t)
		p := &sdk.Pass{Name: "affine", Rules: []sdk.Rule{{Pattern: pat, Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			if m.Has("bias") != withBias {
				t.Errorf("Has(bias) = %v, want %v", m.Has("bias"), withBias)
			}
			if got := len(m.Dying()); got != len(m.Nodes()) {
				t.Errorf("%d of %d matched nodes die, want all", got, len(m.Nodes()))
			}
			rw.Replace(m.Root(), rw.Add("Identity", []string{m.Value("x")}, nil))
			return nil
		}}}}
		res, out := run(t, p, g, "")
		if len(res.Patch.Rewrites) != 1 {
			t.Fatalf("bias=%v: %d rewrites, want 1", withBias, len(res.Patch.Rewrites))
		}
		if c := out.OpCounts(); c["Mul"]+c["Add"] != 0 {
			t.Errorf("bias=%v: left %v", withBias, c)
		}
	}
}

func TestOverlappingMatchesFireOnce(t *testing.T) {
	pat := sdk.Op("Neg", sdk.Op("Neg", sdk.Any("x")))
	b := passtest.NewBuilder("negs")
	v := b.Input("x", graph.F32, graph.D(3))
	for i := 0; i < 3; i++ {
		v = b.Op("Neg", nil, v)
	}
	b.Output(v)
	g := b.MustBuild(t)
	res, out := run(t, fuse(pat, "Identity", nil, "x"), g, "")
	if len(res.Patch.Rewrites) != 1 {
		t.Fatalf("%d rewrites, want 1 (Neg(Neg(Neg x)) has one non-overlapping double negation)", len(res.Patch.Rewrites))
	}
	if c := out.OpCounts(); c["Neg"] != 1 {
		t.Errorf("ops after: %v", c)
	}
}

func TestChainedRemapsCompose(t *testing.T) {
	// Dropout(Dropout(x)) as a graph output: both rewrites remove a node
	// and remap; the second reads a value the first removed.
	drop := &sdk.Pass{Name: "dropout", Rules: []sdk.Rule{{
		Pattern: sdk.Op("Dropout", sdk.Any("x")),
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Replace(m.Root(), m.Value("x"))
			return nil
		},
	}}}
	b := passtest.NewBuilder("drops")
	x := b.Input("x", graph.F32, graph.D(3))
	d1 := b.Op("Dropout", A{"rate": graph.Float(0.1)}, x)
	d2 := b.Op("Dropout", nil, d1)
	y := b.Op("Neg", nil, d2)
	b.OutputAs("out", d2)
	b.Output(y)
	g := b.MustBuild(t)
	res, out := run(t, drop, g, "")
	if len(res.Patch.Rewrites) != 2 {
		t.Fatalf("%d rewrites, want 2", len(res.Patch.Rewrites))
	}
	if c := out.OpCounts(); c["Dropout"] != 0 {
		t.Fatalf("dropouts left: %v", c)
	}
	if out.Output("out") == nil {
		t.Fatalf("graph output renamed: %v", out.Outputs)
	}
}

func TestCheckNotesReason(t *testing.T) {
	p := &sdk.Pass{Name: "n", Rules: []sdk.Rule{{
		Pattern: sdk.Op("Dropout", sdk.Any("x")),
		Check: func(m *sdk.Match) string {
			if r := m.Root().Float("rate"); r > 0 {
				return "dropout rate 0.1 > 0"
			}
			return ""
		},
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Replace(m.Root(), m.Value("x"))
			return nil
		},
	}}}
	b := passtest.NewBuilder("drops")
	x := b.Input("x", graph.F32, graph.D(3))
	d1 := b.Node("Dropout", A{"rate": graph.Float(0.1)}, x)
	d2 := b.Op("Dropout", nil, d1.Outputs[0])
	b.Output(d2)
	g := b.MustBuild(t)
	res, _ := run(t, p, g, "")
	if len(res.Patch.Rewrites) != 1 {
		t.Errorf("%d rewrites, want 1", len(res.Patch.Rewrites))
	}
	want := []sdk.Note{{Node: d1.Name, Message: "dropout rate 0.1 > 0"}}
	if len(res.Notes) != 1 || res.Notes[0] != want[0] {
		t.Errorf("notes = %v, want %v", res.Notes, want)
	}
}

func TestRunErrors(t *testing.T) {
	b := passtest.NewBuilder("e")
	x := b.Input("x", graph.F32, graph.D(3))
	b.Output(b.Op("Neg", nil, x))
	g := b.MustBuild(t)
	type opts struct {
		Rate float64 `json:"rate" min:"0" max:"1"`
	}
	tests := []struct {
		name, opts, code, msg string
		rule                  sdk.Rule
	}{
		{"panic", "", sdk.CodePanic, "boom", sdk.Rule{Func: func(c *sdk.Context) error { panic("boom") }}},
		{"error", "", sdk.CodeRuleFailed, "rule r: nope", sdk.Rule{Name: "r", Func: func(c *sdk.Context) error { return errors.New("nope") }}},
		{"unknown option", `{"rat": 1}`, sdk.CodeInvalidOptions, `unknown option "rat" (known: rate)`, sdk.Rule{Func: func(*sdk.Context) error { return nil }}},
		{"bad option", `{"rate": 2}`, sdk.CodeInvalidOptions, `option "rate": 2 is above the maximum 1`, sdk.Rule{Func: func(*sdk.Context) error { return nil }}},
		{"no rewrite", "", sdk.CodeRuleFailed, "has a Pattern but no Rewrite", sdk.Rule{Pattern: sdk.Op("Neg", sdk.Any(""))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &sdk.Pass{Name: "e", Options: &opts{Rate: 0.5}, Rules: []sdk.Rule{tc.rule}}
			_, err := p.Run(g, nil, tc.opts)
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *sdk.Error", err)
			}
			if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("err = %v, want code %s containing %q", e, tc.code, tc.msg)
			}
		})
	}
}

func TestFreshNamesAvoidExisting(t *testing.T) {
	b := passtest.NewBuilder("names")
	x := b.Input("x", graph.F32, graph.D(3))
	b.Scope = "s"
	y := b.Op("Neg", nil, x)
	// A node already called "s/Abs": the rewrite must pick another name.
	b.Graph().Nodes = append(b.Graph().Nodes, &graph.Node{Name: "s/Abs", Op: "Abs", Inputs: []string{y}, Outputs: []string{"s/Abs"}, Scope: "s"})
	b.Output("s/Abs")
	g := b.MustBuild(t)
	p := fuse(sdk.Op("Neg", sdk.Any("x")), "Abs", nil, "x")
	res, _ := run(t, p, g, "")
	add := res.Patch.Rewrites[0].AddNodes[0]
	if add.Name == "s/Abs" || add.Outputs[0] == "s/Abs" || add.Scope != "s" {
		t.Errorf("added node %+v collides or lost its scope", add)
	}
}
