// Package layernorm is the layer_norm pass: mean/variance normalisation
// over the last axis,
//
//	d = x - mean(x);  y = d / sqrt(mean(d²) + eps) * weight + bias
//
// becomes LayerNorm(x, weight, bias, eps) (the seed's :layer_norm rewrite,
// MLX's fast layer_norm), with or without bias, and with a ones weight when
// there is none. d² may be Pow(d, 2) or Mul(d, d), the division Div(d,
// Sqrt(·)) or Mul(d, Rsqrt(·)). Normalisations over other axes are left
// alone with a note: the fused kernel only normalises the last axis.
package layernorm

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pattern matches (x - mean(x)) / sqrt(var + eps) [* weight] [+ bias].
func Pattern() *sdk.Pattern {
	x := sdk.Any("x")
	mu := sdk.Op("ReduceMean", x).As("mean").Attr("keepdims", graph.Int(1))
	d := sdk.Op("Sub", x, mu).As("centered")
	sq := sdk.OneOf(sdk.Op("Pow", d, sdk.Scalar(2)), sdk.Op("Mul", d, d))
	variance := sdk.Op("ReduceMean", sq).As("var").Attr("keepdims", graph.Int(1))
	den := sdk.Op("Add", variance, sdk.Any("eps"))
	norm := sdk.OneOf(
		sdk.Op("Div", d, sdk.Op("Sqrt", den)),
		sdk.Op("Mul", d, sdk.Op("Rsqrt", den)),
	).As("norm")
	scaled := sdk.Op("Mul", norm, sdk.Any("weight")).Optional()
	return sdk.Op("Add", scaled, sdk.Any("bias")).Optional()
}

// Pass fuses LayerNorm.
var Pass = &sdk.Pass{
	Name:        "layer_norm",
	Version:     "1.0.0",
	Description: "fuse mean/variance normalisation over the last axis into LayerNorm(x, w, b, eps)",
	Consumes:    []string{"Sub"}, // every match centers x with one
	Produces:    []string{"LayerNorm"},
	Rules: []sdk.Rule{{
		Name:    "layer_norm",
		Pattern: Pattern(),
		Where:   wellFormed,
		Check:   check,
		Rewrite: rewrite,
	}},
}

// wellFormed keeps matches that are a normalisation at all: both means
// over the same axes, and weight and bias (when present) per-channel
// vectors of the normalised axis; anything else (a residual Add, a scalar
// scale) is not part of the norm and the match shrinks to exclude it.
func wellFormed(m *sdk.Match) bool {
	v := m.View()
	if !slices.Equal(m.Node("mean").IntList("axes"), m.Node("var").IntList("axes")) {
		return false
	}
	d, ok := v.LastDim(m.Value("x"))
	if !ok {
		return false
	}
	for _, p := range []string{"weight", "bias"} {
		if m.Has(p) && !v.IsVectorOf(m.Value(p), d) {
			return false
		}
	}
	return true
}

func check(m *sdk.Match) string {
	v := m.View()
	x := m.Value("x")
	t, _ := v.Type(x)
	axes := m.Node("mean").IntList("axes")
	if len(axes) != 1 || sdk.NormAxis(axes[0], t.Shape.Rank()) != t.Shape.Rank()-1 {
		return sdk.Sprintf("normalises %s over axes %v; LayerNorm normalises only the last axis", t, axes)
	}
	if _, ok := m.Scalar("eps"); !ok {
		return "eps is not a single constant"
	}
	if !m.Has("weight") {
		if d, _ := v.LastDim(x); !d.Static() {
			return sdk.Sprintf("no weight and a symbolic last dim %s: cannot make a ones weight", d)
		}
	}
	return ""
}

func rewrite(m *sdk.Match, rw *sdk.Rewrite) error {
	eps, _ := m.Scalar("eps")
	w := m.Value("weight")
	if w == "" {
		d, _ := m.View().LastDim(m.Value("x"))
		ones := make([]float64, d.Size)
		for i := range ones {
			ones[i] = 1
		}
		w = rw.Const("ones", graph.F32, []int64{d.Size}, ones)
	}
	ins := []string{m.Value("x"), w}
	if b := m.Value("bias"); b != "" {
		ins = append(ins, b)
	}
	y := rw.Add("LayerNorm", ins, map[string]graph.Attr{"eps": graph.Float(eps)})
	rw.Replace(m.Root(), y)
	return nil
}
