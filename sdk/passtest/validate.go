package passtest

import (
	"context"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/validate"
)

// Validate checks every rewrite of patch on g with package validate
// (translation validation: each replacement evaluated against the values
// it replaces on random inputs of g; rewrites that hold state or change
// the graph's interface run as decoder sessions), within tol (0: the
// validator's default, 1e-4).
func Validate(t TB, g *graph.Graph, patch *graph.Patch, tol float64) {
	t.Helper()
	v := validate.New(validate.Options{Tol: tol})
	defer v.Close()
	for i, rw := range patch.Rewrites {
		if err := v.ValidateRewrite(context.Background(), g, rw); err != nil {
			t.Fatalf("rewrite %d (%s): %v", i, rw.Reason, err)
		}
	}
}
