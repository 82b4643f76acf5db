// Package rmsnorm is the rms_norm pass: the RMSNorm subgraph
//
//	y = weight * (x * rsqrt(mean(x², last axis) + eps))
//
// becomes RMSNorm(x, weight, eps) (the seed's :rms_norm rewrite, MLX's fast
// rms_norm). x² may be Pow(x, 2) or Mul(x, x); the normalisation may be
// Mul(x, Rsqrt(·)) or Div(x, Sqrt(·)); operands in either order. It covers
// layer norms over the hidden size and Qwen3's per-head q/k norms over
// head_dim. A centered x (x - mean(x)) makes the same subgraph a LayerNorm,
// left to the layer_norm pass. Forms whose weight is shifted (Gemma's (1 + w)) are left alone
// with a note, as the seed does: RMSNorm(x, w) computes x/rms(x)·w.
package rmsnorm

import (
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pattern matches the normalisation weight · x/rms(x).
func Pattern() *sdk.Pattern {
	x := sdk.Any("x")
	sq := sdk.OneOf(sdk.Op("Pow", x, sdk.Scalar(2)), sdk.Op("Mul", x, x))
	ms := sdk.Op("ReduceMean", sq).As("mean").
		Where(sdk.OnLastAxis("axes")).Attr("keepdims", graph.Int(1))
	den := sdk.Op("Add", ms, sdk.Any("eps"))
	norm := sdk.OneOf(
		sdk.Op("Mul", x, sdk.Op("Rsqrt", den)),
		sdk.Op("Div", x, sdk.Op("Sqrt", den)),
	).As("norm")
	return sdk.Op("Mul", sdk.Any("weight"), norm)
}

// Pass fuses RMSNorm.
var Pass = &sdk.Pass{
	Name:        "rms_norm",
	Version:     "1.0.0",
	Description: "fuse x*rsqrt(mean(x²)+eps)*w into RMSNorm(x, w, eps)",
	Consumes:    []string{"ReduceMean"}, // every match has one
	Produces:    []string{"RMSNorm"},
	Rules: []sdk.Rule{{
		Name:    "rms_norm",
		Pattern: Pattern(),
		Where:   isRMSNorm,
		Check:   check,
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			eps, _ := m.Scalar("eps")
			y := rw.Add("RMSNorm", []string{m.Value("x"), m.Value("weight")}, map[string]graph.Attr{"eps": graph.Float(eps)})
			rw.Replace(m.Root(), y)
			return nil
		},
	}},
}

// isRMSNorm keeps matches that are an RMSNorm: weights of shape [last dim
// of x] (anything else, a residual or a scalar, makes the product
// something other than a norm), and x not centered: x - mean(x)
// normalised this way is a LayerNorm, which the layer_norm pass fuses.
func isRMSNorm(m *sdk.Match) bool {
	v := m.View()
	x := m.Value("x")
	d, ok := v.LastDim(x)
	return ok && v.IsVectorOf(m.Value("weight"), d) && m.Value("weight") != m.Value("norm") && !IsCentered(v, x)
}

// IsCentered reports whether x is Sub(y, ReduceMean(y)) over the last axis:
// the centering step of a LayerNorm.
func IsCentered(v *sdk.View, x string) bool {
	sub := v.Producer(x)
	if sub == nil || sub.Op != "Sub" {
		return false
	}
	mean := v.Producer(sub.Input(1))
	return mean != nil && mean.Op == "ReduceMean" && mean.Input(0) == sub.Input(0) && sdk.OnLastAxis("axes")(v, mean)
}

func check(m *sdk.Match) string {
	v := m.View()
	if _, ok := m.Scalar("eps"); !ok {
		return "eps is not a single constant"
	}
	w := m.Value("weight")
	if p := v.Producer(w); p != nil && p.Op == "Add" {
		for i, in := range p.Inputs {
			if c, ok := v.Const(in).Scalar(); ok && c != 0 {
				return sdk.Sprintf("weight is %s = %g + %s (shift %g ≠ 0); RMSNorm(x, w) computes x/rms(x)·w", w, c, p.Inputs[1-i], c)
			}
		}
	}
	return ""
}
