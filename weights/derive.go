package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/graphpass/graphpass/graph"
)

// Tensor is a typed block of little-endian element bytes.
type Tensor struct {
	Type graph.TensorType
	Data []byte
}

// DeriveFunc computes the outputs of one derivation from its source tensor
// (whose Data is a read-only view of a mapping: never write to it). Output
// i becomes the bytes of every initializer whose Derivation has Output i.
type DeriveFunc func(src Tensor, attrs map[string]graph.Attr) ([]Tensor, error)

var (
	deriversMu sync.RWMutex
	derivers   = map[string]DeriveFunc{}
)

// RegisterDeriver makes fn compute derivations named op (graph.Derivation.Op).
// Packages register their derivers in init; registering an op twice panics,
// a programming error any test catches. Outputs are cached on disk keyed by
// op, attributes and source bytes, so a deriver whose results change must be
// registered under a new op name.
func RegisterDeriver(op string, fn DeriveFunc) {
	deriversMu.Lock()
	defer deriversMu.Unlock()
	if _, dup := derivers[op]; dup {
		panic("weights: deriver registered twice: " + op)
	}
	derivers[op] = fn
}

// Deriver returns the function registered for op.
func Deriver(op string) (DeriveFunc, bool) {
	deriversMu.RLock()
	defer deriversMu.RUnlock()
	fn, ok := derivers[op]
	return fn, ok
}

// DefaultCacheDir is where derived weights go unless the caller says
// otherwise: <user cache dir>/graphpass/derived.
func DefaultCacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "graphpass", "derived")
}

// MaterializeStats says what Materialize did.
type MaterializeStats struct {
	Derivations int   // distinct (op, source, attrs) computed or found
	Computed    int   // of which computed now (the rest came from the cache)
	Bytes       int64 // bytes of derived initializers now held by reference
}

// Materialize computes every derived initializer of g (and of its
// subgraphs) with a temporary Store; see (*Store).Materialize.
func Materialize(g *graph.Graph, cacheDir string) (MaterializeStats, error) {
	s := NewStore()
	defer s.Close()
	return s.Materialize(g, cacheDir)
}

// Materialize computes every derived initializer of g (and of its
// subgraphs): each distinct derivation runs once, its outputs go to a
// content-addressed file <cacheDir>/<key>.safetensors (key: SHA-256 of the
// op, its attributes, the source's type and bytes), and each initializer's
// Derive is replaced by a Ref into that file. A file already in the cache is
// reused without computing. Sources are read through s. The source
// initializers stay in the graph; run graph.DCE to drop those no longer read.
func (s *Store) Materialize(g *graph.Graph, cacheDir string) (MaterializeStats, error) {
	var stats MaterializeStats
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	type group struct {
		key   string
		src   *graph.Initializer
		deriv *graph.Derivation
		users []*graph.Initializer
	}
	var groups []*group
	byKey := map[string]*group{}
	var walk func(g *graph.Graph, scope []*graph.Graph) error
	walk = func(g *graph.Graph, scope []*graph.Graph) error {
		scope = append(scope, g)
		for _, in := range g.Initializers {
			if in.Derive == nil {
				continue
			}
			src := graph.LookupInitializer(scope, in.Derive.Source)
			if src == nil {
				return fmt.Errorf("derived initializer %q: source %q is not an initializer", in.Name, in.Derive.Source)
			}
			if src.Derive != nil {
				return fmt.Errorf("derived initializer %q: source %q is itself derived", in.Name, src.Name)
			}
			k := groupKey(src, in.Derive)
			gr := byKey[k]
			if gr == nil {
				gr = &group{key: k, src: src, deriv: in.Derive}
				byKey[k] = gr
				groups = append(groups, gr)
			}
			gr.users = append(gr.users, in)
		}
		for _, n := range g.Nodes {
			for _, name := range sortedNames(n.Subgraphs) {
				if err := walk(n.Subgraphs[name], scope); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(g, nil); err != nil {
		return stats, err
	}
	if len(groups) == 0 {
		return stats, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return stats, fmt.Errorf("weights: derived-weight cache: %w", err)
	}
	for _, gr := range groups {
		fn, ok := Deriver(gr.deriv.Op)
		if !ok {
			return stats, fmt.Errorf("derived initializer %q: no deriver registered for %q (is the package that implements it linked in?)", gr.users[0].Name, gr.deriv.Op)
		}
		srcBytes, err := s.Bytes(gr.src)
		if err != nil {
			return stats, fmt.Errorf("derived initializer %q: %w", gr.users[0].Name, err)
		}
		sum := contentKey(gr.deriv, gr.src.Type, srcBytes)
		path := filepath.Join(cacheDir, sum+".safetensors")
		f, err := s.openCached(path)
		if err != nil {
			outs, err := fn(Tensor{Type: gr.src.Type, Data: srcBytes}, gr.deriv.Attrs)
			if err != nil {
				return stats, fmt.Errorf("derive %s of %q: %w", gr.deriv.Op, gr.src.Name, err)
			}
			entries := make([]Entry, len(outs))
			for i, o := range outs {
				shape, ok := o.Type.Shape.Ints()
				if !ok || int64(len(o.Data)) != o.Type.ByteSize() {
					return stats, fmt.Errorf("derive %s of %q: output %d has %d bytes for %s", gr.deriv.Op, gr.src.Name, i, len(o.Data), o.Type)
				}
				entries[i] = Entry{Name: fmt.Sprint(i), DType: o.Type.DType, Shape: shape, Data: o.Data}
			}
			meta := map[string]string{"format": "graphpass-derived", "op": gr.deriv.Op, "source": gr.src.Name}
			if err := WriteFile(path, entries, meta); err != nil {
				return stats, err
			}
			if f, err = s.OpenSafetensors(path); err != nil {
				return stats, err
			}
			stats.Computed++
		}
		stats.Derivations++
		for _, in := range gr.users {
			name := fmt.Sprint(in.Derive.Output)
			t, ok := f.Tensor(name)
			if !ok {
				return stats, fmt.Errorf("derived initializer %q: %s of %q has no output %d", in.Name, gr.deriv.Op, gr.src.Name, in.Derive.Output)
			}
			if !t.Type().Equal(in.Type) {
				return stats, fmt.Errorf("derived initializer %q is declared %s, but output %d of %s is %s", in.Name, in.Type, in.Derive.Output, gr.deriv.Op, t.Type())
			}
			ref, _ := f.Ref(name)
			in.Ref, in.Derive = ref, nil
			stats.Bytes += t.Length
		}
	}
	return stats, nil
}

// openCached opens a cache file if a complete, valid one exists.
func (s *Store) openCached(path string) (*File, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return s.OpenSafetensors(path)
}

// groupKey identifies a derivation within one graph (same source object, op and attrs).
func groupKey(src *graph.Initializer, d *graph.Derivation) string {
	return fmt.Sprintf("%p|%s|%s", src, d.Op, attrString(d.Attrs))
}

func attrString(attrs map[string]graph.Attr) string {
	s := ""
	for _, k := range sortedNames(attrs) {
		a := attrs[k]
		s += fmt.Sprintf("%s=%d:%s;", k, a.Kind, a.String())
	}
	return s
}

// contentKey addresses a derivation's outputs by everything they depend on.
func contentKey(d *graph.Derivation, srcType graph.TensorType, src []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "graphpass-derived-v1\x00%s\x00%s\x00%s\x00", d.Op, attrString(d.Attrs), srcType)
	h.Write(src)
	return hex.EncodeToString(h.Sum(nil))[:40]
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
