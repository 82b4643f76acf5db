// Package square is an example of a rewrite pass written outside the
// built-in set, the way a user would write one with the SDK (package sdk):
// it replaces Pow(x, 2) by Mul(x, x), a strength reduction that is exact in
// floating point (x·x is correctly rounded, as pow(x, 2) is).
//
// The same Go code runs natively in tests (square_test.go) and, compiled to
// WebAssembly (wasm/main.go → pow_square.wasm), inside the pipeline's
// sandbox. Rebuild the module with
//
//	go generate ./examples/custom-pass   # runs build.sh
package square

//go:generate ./build.sh

import (
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pass rewrites Pow(x, 2) into Mul(x, x).
var Pass = &sdk.Pass{
	Name:        "pow_square",
	Version:     "1.0.0",
	Description: "Pow(x, 2) → Mul(x, x): squaring without pow()",
	Consumes:    []string{"Pow"},
	Produces:    []string{"Mul"},
	Rules: []sdk.Rule{{
		Name: "pow2",
		// By example: the subgraph to find. Scalar(2) matches a one-element
		// constant equal to 2 in the constant's own dtype.
		Pattern: sdk.Op("Pow", sdk.Any("x").DType(graph.F32, graph.F64), sdk.Scalar(2)),
		Rewrite: func(m *sdk.Match, rw *sdk.Rewrite) error {
			x := m.Value("x")
			rw.Reason("%s: Pow(%s, 2) → Mul(%s, %s)", m.Root().Name, x, x, x)
			// Replace remaps the Pow's output to the new Mul's; the Pow and
			// its exponent constant die in the host's dead-code pass.
			rw.Replace(m.Root(), rw.Add("Mul", []string{x, x}, nil))
			return nil
		},
	}},
}
