package weights

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

var splitCalls atomic.Int64

// A test deriver: output 0 is the source's bytes doubled (as u8), output 1
// their count times the "mul" attribute.
func init() {
	RegisterDeriver("test_split", func(src Tensor, attrs map[string]graph.Attr) ([]Tensor, error) {
		splitCalls.Add(1)
		a := make([]byte, len(src.Data))
		for i, v := range src.Data {
			a[i] = v * 2
		}
		n := byte(len(src.Data)) * byte(attrs["mul"].Int)
		return []Tensor{
			{Type: graph.T(graph.U8, graph.D(int64(len(a)))), Data: a},
			{Type: graph.T(graph.U8, graph.D(1)), Data: []byte{n}},
		}, nil
	})
}

func derivedGraph(srcFile string) *graph.Graph {
	d := func(out int) *graph.Derivation {
		return &graph.Derivation{Op: "test_split", Source: "src", Attrs: map[string]graph.Attr{"mul": graph.Int(3)}, Output: out}
	}
	sub := &graph.Graph{Name: "then",
		Initializers: []*graph.Initializer{{Name: "in_branch", Type: graph.T(graph.U8, graph.D(1)), Derive: d(1)}}}
	return &graph.Graph{
		Name: "g",
		Initializers: []*graph.Initializer{
			{Name: "src", Type: graph.T(graph.U8, graph.D(4)), Ref: &graph.WeightRef{File: srcFile, Offset: 0, Length: 4}},
			{Name: "doubled", Type: graph.T(graph.U8, graph.D(4)), Derive: d(0)},
			{Name: "count", Type: graph.T(graph.U8, graph.D(1)), Derive: d(1)},
		},
		Nodes: []*graph.Node{{Name: "if", Op: "If", Subgraphs: map[string]*graph.Graph{"then_branch": sub}}},
	}
}

func TestMaterialize(t *testing.T) {
	src := writeTemp(t, "src.bin", []byte{1, 2, 3, 4})
	cache := t.TempDir()
	g := derivedGraph(src)
	splitCalls.Store(0)
	stats, err := Materialize(g, cache)
	if err != nil {
		t.Fatal(err)
	}
	// Three initializers, in two scopes, share one derivation: computed once.
	if stats.Derivations != 1 || stats.Computed != 1 || splitCalls.Load() != 1 || stats.Bytes != 6 {
		t.Errorf("stats %+v, deriver called %d times", stats, splitCalls.Load())
	}
	s := NewStore()
	defer s.Close()
	check := func(g *graph.Graph) {
		t.Helper()
		want := map[string][]byte{"doubled": {2, 4, 6, 8}, "count": {12}}
		for name, w := range want {
			in := g.Initializer(name)
			if in.Derive != nil || in.Ref == nil {
				t.Fatalf("%s not materialised: %+v", name, in)
			}
			if !strings.HasPrefix(in.Ref.File, cache) {
				t.Errorf("%s lives in %s, outside the cache", name, in.Ref.File)
			}
			b, err := s.Bytes(in)
			if err != nil || string(b) != string(w) {
				t.Errorf("%s = %v, %v; want %v", name, b, err, w)
			}
		}
		br := g.Nodes[0].Subgraphs["then_branch"].Initializers[0]
		if b, err := s.Bytes(br); err != nil || b[0] != 12 {
			t.Errorf("branch initializer = %v, %v", b, err)
		}
		if err := graph.Verify(&graph.Graph{Initializers: g.Initializers}); err != nil {
			t.Error(err)
		}
	}
	check(g)

	// A second graph with the same derivations comes from the cache.
	calls := splitCalls.Load()
	g2 := derivedGraph(src)
	stats, err = Materialize(g2, cache)
	if err != nil {
		t.Fatal(err)
	}
	if splitCalls.Load() != calls || stats.Computed != 0 {
		t.Errorf("cached derivation recomputed (stats %+v)", stats)
	}
	check(g2)
	files, _ := filepath.Glob(filepath.Join(cache, "*"))
	if len(files) != 1 {
		t.Errorf("cache holds %v, want one content-addressed file", files)
	}

	// Different source bytes: a different file.
	if err := os.WriteFile(src, []byte{5, 5, 5, 5}, 0o644); err != nil {
		t.Fatal(err)
	}
	g3 := derivedGraph(src)
	if _, err := Materialize(g3, cache); err != nil {
		t.Fatal(err)
	}
	if g3.Initializer("doubled").Ref.File == g2.Initializer("doubled").Ref.File {
		t.Error("changed source reused the old cache file")
	}
}

func TestMaterializeErrors(t *testing.T) {
	src := writeTemp(t, "src.bin", []byte{1, 2, 3, 4})
	tests := []struct {
		name   string
		mutate func(g *graph.Graph)
		want   string
	}{
		{"unknown op", func(g *graph.Graph) { g.Initializers[1].Derive.Op = "nope" }, `no deriver registered for "nope"`},
		{"missing source", func(g *graph.Graph) { g.Initializers[1].Derive.Source = "ghost" }, `source "ghost" is not an initializer`},
		{"wrong declared type", func(g *graph.Graph) { g.Initializers[1].Type = graph.T(graph.U8, graph.D(5)) }, `"doubled" is declared u8[5], but output 0 of test_split is u8[4]`},
		{"no such output", func(g *graph.Graph) { g.Initializers[2].Derive.Output = 7 }, "has no output 7"},
		{"source without data", func(g *graph.Graph) { g.Initializers[0].Ref = nil }, "has no data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := derivedGraph(src)
			tc.mutate(g)
			_, err := Materialize(g, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRegisterDeriverTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	RegisterDeriver("test_split", nil)
}
