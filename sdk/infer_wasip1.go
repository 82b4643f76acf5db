//go:build wasip1

package sdk

import (
	"errors"

	"github.com/graphpass/graphpass/graph"
)

// inferTypes cannot infer inside a module: linking graph.Infer would link
// the op catalog with every op's inference code (about a fifth of a
// module), and ABI v1 requests carry every value's type anyway.
func inferTypes(*graph.Graph) (map[string]graph.TensorType, error) {
	return nil, errors.New("the graph comes without value types, and a pass module does not infer them (ABI v1 requests carry them in value_info)")
}
