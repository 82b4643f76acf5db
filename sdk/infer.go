//go:build !wasip1

package sdk

import "github.com/graphpass/graphpass/graph"

// inferTypes infers the types of g's values (natively: see infer_wasip1.go).
func inferTypes(g *graph.Graph) (map[string]graph.TensorType, error) { return graph.Infer(g) }
