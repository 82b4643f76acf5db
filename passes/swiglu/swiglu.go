// Package swiglu is the swiglu pass: the gated MLP product
// Mul(Silu(gate), up) becomes one SwiGLU(gate, up) (the seed's :swiglu
// rewrite, MLX's fast swiglu). Silu written out as Mul(gate,
// Sigmoid(gate)) is recognised too. Generic multiplies, other gate
// activations and Silu(x)·Silu(x) are left alone.
package swiglu

import (
	"github.com/graphpass/graphpass/sdk"
)

// Pattern matches silu(gate) · up, operands in either order.
func Pattern() *sdk.Pattern {
	gate := sdk.Any("gate")
	silu := sdk.OneOf(
		sdk.Op("Silu", gate),
		sdk.Op("Mul", gate, sdk.Op("Sigmoid", gate)),
	).As("silu")
	return sdk.Op("Mul", silu, sdk.Any("up"))
}

// Pass fuses SwiGLU.
var Pass = &sdk.Pass{
	Name:        "swiglu",
	Version:     "1.0.0",
	Description: "fuse Mul(Silu(gate), up) into SwiGLU(gate, up)",
	Consumes:    []string{"Silu", "Sigmoid"}, // either form of silu
	Produces:    []string{"SwiGLU"},
	Rules: []sdk.Rule{{
		Name:    "swiglu",
		Pattern: Pattern(),
		// silu(x)·silu(x) is a square, not a gated product.
		Where: func(m *sdk.Match) bool { return m.Value("up") != m.Value("silu") },
		Check: func(m *sdk.Match) string {
			g, u := m.Type("gate"), m.Type("up")
			if !g.Shape.Equal(u.Shape) {
				return "gate " + g.String() + " and up " + u.String() + " differ in shape (the product broadcasts); SwiGLU needs equal shapes"
			}
			return ""
		},
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			rw.Replace(m.Root(), rw.Add("SwiGLU", []string{m.Value("gate"), m.Value("up")}, nil))
			return nil
		},
	}},
}
