// Package testmodels gives pass tests real decoder graphs from package
// model: the reference fixtures under testdata/fixtures (Hugging Face
// checkpoints with reference outputs) and model's synthetic configs with
// random weights, in any of the builder's shapes (merged decoder,
// attention outputs, GQA expanded before the cache).
package testmodels

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
)

// Root returns the repository root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// FixtureDir returns testdata/fixtures/<name>.
func FixtureDir(t testing.TB, name string) string {
	return filepath.Join(Root(t), "testdata", "fixtures", name)
}

// Fixture builds the graph of fixture name with opts; its weights are
// the fixture's checkpoint files.
func Fixture(t testing.TB, name string, opts model.BuildOptions) *graph.Graph {
	t.Helper()
	return open(t, FixtureDir(t, name), opts)
}

func open(t testing.TB, dir string, opts model.BuildOptions) *graph.Graph {
	t.Helper()
	ck, err := model.Open(dir)
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	defer ck.Close()
	g, err := ck.Graph(opts)
	if err != nil {
		t.Fatalf("building %s: %v", dir, err)
	}
	return g
}

var (
	synthMu   sync.Mutex
	synthDirs = map[string]string{}
)

// Synthetic builds model's synthetic config name (e.g. "mistral-tiny",
// "gpt2-tiny") with random weights written once per test binary.
func Synthetic(t testing.TB, name string, opts model.BuildOptions) *graph.Graph {
	t.Helper()
	return SyntheticWith(t, name, "", nil, opts)
}

// SyntheticWith is Synthetic with the config changed by edit first;
// variant names the change (checkpoints are cached by name and variant).
func SyntheticWith(t testing.TB, name, variant string, edit func(*model.Config), opts model.BuildOptions) *graph.Graph {
	t.Helper()
	key := name + "/" + variant
	synthMu.Lock()
	dir, ok := synthDirs[key]
	if !ok {
		cfg, err := model.Synthetic(name)
		if err != nil {
			synthMu.Unlock()
			t.Fatal(err)
		}
		if edit != nil {
			edit(cfg)
		}
		if tmpRoot == "" {
			if tmpRoot, err = os.MkdirTemp("", "graphpass-synthetic-"); err != nil {
				synthMu.Unlock()
				t.Fatal(err)
			}
		}
		dir = filepath.Join(tmpRoot, name+"-"+variant)
		if err := model.WriteSynthetic(dir, cfg, 1); err != nil {
			synthMu.Unlock()
			t.Fatal(err)
		}
		synthDirs[key] = dir
	}
	synthMu.Unlock()
	return open(t, dir, opts)
}

var tmpRoot string

// Main runs the tests and removes the synthetic checkpoints they wrote:
//
//	func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	synthMu.Lock()
	defer synthMu.Unlock()
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	return code
}

// Shape builds the weightless graph of a synthetic config (types only):
// for matching tests and benchmarks on full-size shapes.
func Shape(t testing.TB, name string, opts model.BuildOptions) *graph.Graph {
	t.Helper()
	cfg, err := model.Synthetic(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := model.BuildGraph(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
