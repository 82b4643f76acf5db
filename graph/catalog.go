package graph

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Port describes one input or output of an op.
type Port struct {
	Name     string
	Optional bool // may be "" (omitted); only trailing ports are optional
	Variadic bool // the last port may repeat (Concat)
}

// AttrSpec declares one attribute of an op.
type AttrSpec struct {
	Name    string
	Kind    AttrKind
	Default *Attr // nil: required
	Doc     string
}

// InferFunc computes output types from input types ("" inputs have a zero
// TensorType) and the node's attributes.
type InferFunc func(n *Node, in []TensorType) ([]TensorType, error)

// OpSchema is the catalog entry of one op: its ports, attributes, semantics
// and shape/dtype inference.
type OpSchema struct {
	Name    string
	Fused   bool // a fused op that a rewrite produces (MLX fast-op style)
	Doc     string
	Inputs  []Port
	Outputs []Port
	Attrs   []AttrSpec
	Infer   InferFunc
}

var catalog = map[string]*OpSchema{}

// The catalog is built on first use (ensureCatalog), not at init: its
// schemas carry the inference code of every op, which a program that never
// looks an op up (a pass module) then does not link. Node.Attr reads
// attribute defaults from a generated table (attrdefaults.go) until the
// catalog is built.
var (
	catalogOnce  sync.Once
	catalogReady atomic.Bool
)

func ensureCatalog() {
	if catalogReady.Load() {
		return
	}
	catalogOnce.Do(func() {
		registerBuiltinOps()
		patchIfSchema()
		catalogReady.Store(true)
	})
}

// Register adds an op to the catalog. It panics on a duplicate name, which
// is a programming error caught by any test.
func Register(s *OpSchema) {
	ensureCatalog()
	register(s)
}

func register(s *OpSchema) {
	if _, dup := catalog[s.Name]; dup {
		panic("graph: op registered twice: " + s.Name)
	}
	catalog[s.Name] = s
}

// Lookup returns the schema of op.
func Lookup(op string) (*OpSchema, bool) {
	ensureCatalog()
	s, ok := catalog[op]
	return s, ok
}

// schemaDefault is the default of attribute key of op in the built catalog.
func schemaDefault(op, key string) (Attr, bool) {
	if s, ok := catalog[op]; ok {
		for _, spec := range s.Attrs {
			if spec.Name == key && spec.Default != nil {
				return *spec.Default, true
			}
		}
	}
	return Attr{}, false
}

// Ops returns every registered op schema, sorted by name.
func Ops() []*OpSchema {
	ensureCatalog()
	out := make([]*OpSchema, 0, len(catalog))
	for _, s := range catalog {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InferNode checks a node against its schema (arity, attributes) and returns
// its output types.
func InferNode(n *Node, in []TensorType) ([]TensorType, error) {
	s, ok := Lookup(n.Op)
	if !ok {
		return nil, nodeErr(n, "unknown op %q", n.Op)
	}
	if err := checkArity(s, n); err != nil {
		return nil, err
	}
	for _, spec := range s.Attrs {
		a, ok := n.Attrs[spec.Name]
		if !ok {
			if spec.Default == nil {
				return nil, nodeErr(n, "missing required attribute %q", spec.Name)
			}
			continue
		}
		if a.Kind != spec.Kind {
			return nil, nodeErr(n, "attribute %q is %s, want %s", spec.Name, a.Kind, spec.Kind)
		}
	}
	for k := range n.Attrs {
		if !hasAttr(s, k) {
			return nil, nodeErr(n, "unknown attribute %q", k)
		}
	}
	out, err := s.Infer(n, in)
	if err != nil {
		return nil, nodeErr(n, "%v", err)
	}
	if len(out) != len(n.Outputs) {
		return nil, nodeErr(n, "has %d outputs, op produces %d", len(n.Outputs), len(out))
	}
	return out, nil
}

func hasAttr(s *OpSchema, name string) bool {
	for _, a := range s.Attrs {
		if a.Name == name {
			return true
		}
	}
	return false
}

func checkArity(s *OpSchema, n *Node) error {
	min, max := 0, len(s.Inputs)
	for _, p := range s.Inputs {
		if !p.Optional && !p.Variadic {
			min++
		}
		if p.Variadic {
			max = -1
			min++ // a variadic port needs at least one value
		}
	}
	if len(n.Inputs) < min || (max >= 0 && len(n.Inputs) > max) {
		if max < 0 {
			return nodeErr(n, "has %d inputs, want at least %d", len(n.Inputs), min)
		}
		return nodeErr(n, "has %d inputs, want %d..%d", len(n.Inputs), min, max)
	}
	for i, v := range n.Inputs {
		if v == "" && (i >= len(s.Inputs) || !s.Inputs[i].Optional) {
			return nodeErr(n, "required input %d is empty", i)
		}
	}
	return nil
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// normAxis maps a possibly negative axis onto [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := int(axis)
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, errf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}
