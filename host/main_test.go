package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

// cacheDir is one compilation cache for the whole test binary, so the Go
// test pass compiles once.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "graphpass-host-test")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testTimeout is the call deadline of hosts made by newHost: long enough
// for a real pass on a slow CI machine, short enough for hostile tests.
const testTimeout = 2 * time.Second

func newHost(t testing.TB, cfg ...func(host.Config) host.Config) *host.Host {
	t.Helper()
	c := host.NewConfig().WithCompilationCacheDir(cacheDir).WithCallTimeout(testTimeout)
	for _, f := range cfg {
		c = f(c)
	}
	h, err := host.New(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func testdata(name string) string { return filepath.Join("testdata", name) }

func load(t testing.TB, h *host.Host, name string) *host.Pass {
	t.Helper()
	p, err := h.LoadFile(context.Background(), testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func f32s(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// testGraph is a small graph that verifies: a MatMul with a 64 KiB+ weight
// held inline, a weight held by reference, two Dropouts (one feeding a
// graph output) and an If.
func testGraph() *graph.Graph {
	h := graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(8))
	big := make([]byte, 8*4*(graph.InlineLimit/32+1)) // just over InlineLimit
	rows := int64(len(big) / 4 / 8)
	return &graph.Graph{
		Name: "test",
		Inputs: []graph.ValueInfo{
			{Name: "x", Type: h},
			{Name: graph.UseCacheBranch, Type: graph.T(graph.Bool, graph.D(1))},
		},
		Outputs: []graph.ValueInfo{{Name: "y", Type: h}, {Name: "z", Type: graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(rows))}},
		Initializers: []*graph.Initializer{
			{Name: "w_small", Type: graph.T(graph.F32, graph.D(8)), Data: f32s(1, 2, 3, 4, 5, 6, 7, 8)},
			{Name: "w_big", Type: graph.T(graph.F32, graph.D(8), graph.D(rows)), Data: big},
			{Name: "w_ref", Type: graph.T(graph.F32, graph.D(8)), Ref: &graph.WeightRef{File: "/secret/path/model.safetensors", Offset: 128, Length: 32}},
		},
		Nodes: []*graph.Node{
			{Name: "mul", Op: "Mul", Inputs: []string{"x", "w_small"}, Outputs: []string{"a"}, Scope: "model.layers.0"},
			{Name: "drop1", Op: "Dropout", Inputs: []string{"a"}, Outputs: []string{"b"}, Attrs: map[string]graph.Attr{"rate": graph.Float(0.1)}, Scope: "model.layers.0.dropout"},
			{Name: "add", Op: "Add", Inputs: []string{"b", "w_ref"}, Outputs: []string{"c"}, Scope: "model.layers.0"},
			{Name: "branch", Op: "If", Inputs: []string{graph.UseCacheBranch}, Outputs: []string{"d"},
				Subgraphs: map[string]*graph.Graph{
					"then_branch": {Outputs: []graph.ValueInfo{{Name: "t", Type: h}}, Nodes: []*graph.Node{{Name: "then_id", Op: "Identity", Inputs: []string{"c"}, Outputs: []string{"t"}}}},
					"else_branch": {Outputs: []graph.ValueInfo{{Name: "e", Type: h}}, Nodes: []*graph.Node{{Name: "else_neg", Op: "Neg", Inputs: []string{"c"}, Outputs: []string{"e"}}}},
				}},
			{Name: "drop2", Op: "Dropout", Inputs: []string{"d"}, Outputs: []string{"y"}, Scope: "model.dropout"},
			{Name: "proj", Op: "MatMul", Inputs: []string{"y", "w_big"}, Outputs: []string{"z"}, Scope: "model.proj"},
		},
		Metadata: map[string]string{graph.MetaArchitecture: "Test"},
	}
}

// snapshot encodes g completely (weights by reference included): two
// graphs are deeply equal exactly when their snapshots are.
func snapshot(g *graph.Graph) []byte { return abi.EncodeGraph(g) }

func assertUnchanged(t *testing.T, g *graph.Graph, before []byte) {
	t.Helper()
	if !bytes.Equal(snapshot(g), before) {
		t.Fatal("the caller's graph was modified")
	}
}

func TestTestGraphVerifies(t *testing.T) {
	if err := graph.Verify(testGraph()); err != nil {
		t.Fatal(err)
	}
}
