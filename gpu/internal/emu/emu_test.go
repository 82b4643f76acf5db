package emu

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/gpu/gputest"
	"github.com/graphpass/graphpass/gpu/gputest/fixture"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/pipeline"
)

var (
	once  sync.Once
	rt    *gpu.Runtime
	dev   *Device
	rtErr error
)

// runtimeOrSkip builds the harness once per test binary. Emulating every
// thread is slow, so the package is skipped with -short.
func runtimeOrSkip(t *testing.T) *gpu.Runtime {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel emulation is slow; run without -short")
	}
	once.Do(func() {
		cache := os.Getenv("GRAPHPASS_EMU_CACHE")
		if cache == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			cache = filepath.Join(base, "graphpass", "emu")
		}
		if rtErr = os.MkdirAll(cache, 0o755); rtErr != nil {
			return
		}
		var bin string
		if bin, rtErr = Build(cache); rtErr != nil {
			return
		}
		if dev, rtErr = Open(bin); rtErr == nil {
			rt = gpu.NewRuntime(dev, 0)
		}
	})
	if rtErr != nil {
		if Compiler() == "" {
			t.Skip(rtErr)
		}
		t.Fatal(rtErr)
	}
	return rt
}

// TestKernels runs gputest cases on the emulator against the CPU reference
// runtime: by default the decoder cases (every fused dispatch in place);
// GRAPHPASS_EMU_ONLY=all runs every case, any other value the cases whose
// names start with it.
func TestKernels(t *testing.T) {
	r := runtimeOrSkip(t)
	only := os.Getenv("GRAPHPASS_EMU_ONLY")
	switch only {
	case "":
		only = "decoder/"
	case "all":
		only = ""
	}
	for _, c := range gputest.Cases() {
		if !strings.HasPrefix(c.Name, only) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			res := gputest.Run(context.Background(), r, c)
			if testing.Verbose() {
				fmt.Printf("EMU %-48s relerr %.2e\n", c.Name, res.RelErr)
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		})
	}
}

// TestFixtures runs the reference checkpoints after the default passes
// (slow: set GRAPHPASS_EMU_FIXTURES=1).
func TestFixtures(t *testing.T) {
	if os.Getenv("GRAPHPASS_EMU_FIXTURES") == "" {
		t.Skip("set GRAPHPASS_EMU_FIXTURES=1 to run the reference checkpoints on the emulator")
	}
	r := runtimeOrSkip(t)
	root := filepath.Join("..", "..", "..")
	for _, f := range fixture.Fixtures {
		t.Run(f, func(t *testing.T) {
			dir := filepath.Join(root, "testdata", "fixtures", f)
			spec := &pipeline.Spec{Model: dir, Passes: []pipeline.PassSpec{{Defaults: true}}, Runtime: pipeline.RuntimeSpec{Name: pipeline.InprocName}}
			prep, err := pipeline.Prepare(context.Background(), spec, pipeline.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer prep.Close()
			if err := prep.Materialize(); err != nil {
				t.Fatal(err)
			}
			res := fixture.Check(context.Background(), r, prep.Graph, dir)
			if testing.Verbose() {
				fmt.Printf("EMU fixture %-24s logits rel err %.2e ids %v\n", f, res.LogitsErr, res.Got)
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		})
	}
}

// TestGreedy checks ForwardGreedy (argmax on the device) against the host
// argmax of Forward's logits, step by step, on a small decoder.
func TestGreedy(t *testing.T) {
	r := runtimeOrSkip(t)
	ctx := context.Background()
	var g *graph.Graph
	for _, c := range gputest.Cases() {
		if c.Name == "decoder/qwen3/prefill6+5" {
			g = c.Graph
		}
	}
	if g == nil {
		t.Fatal("no decoder/qwen3 case")
	}
	m, err := r.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	open := func() *gpu.Session {
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 2, MaxSeq: 32})
		if err != nil {
			t.Fatal(err)
		}
		return s.(*gpu.Session)
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()
	step := backend.Step{Tokens: [][]int32{{5, 9, 2, 44, 7}, {0, 0, 31, 8, 3}}, Mask: [][]int32{{1, 1, 1, 1, 1}, {0, 0, 1, 1, 1}}} // ids < 50
	for k := 0; k < 6; k++ {
		lg, err := a.Forward(ctx, step)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := b.ForwardGreedy(ctx, step)
		if err != nil {
			t.Fatal(err)
		}
		next := backend.Step{}
		for row := 0; row < 2; row++ {
			v := lg.Row(row, lg.Positions-1)
			best := 0
			for i, x := range v {
				if x > v[best] {
					best = i
				}
			}
			if int32(best) != ids[row] {
				t.Fatalf("step %d row %d: device greedy id %d, host argmax %d", k, row, ids[row], best)
			}
			next.Tokens = append(next.Tokens, []int32{ids[row]})
		}
		step = next
	}
}

// TestGreedyTies checks the two-step device argmax over a long row with
// the maximum twice, in different slices: the first index must win.
func TestGreedyTies(t *testing.T) {
	r := runtimeOrSkip(t)
	ctx := context.Background()
	const vocab, width, rows = 9000, 16, 50
	table := make([]byte, rows*width*4)
	w := make([]byte, vocab*width*4)
	put := func(b []byte, i int, v float32) { binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v)) }
	for i := 0; i < rows*width; i++ {
		put(table, i, float32(i%7)*0.25+0.5)
	}
	for i := 0; i < vocab*width; i++ {
		put(w, i, float32((i*7919)%13)*0.01)
	}
	for _, n := range []int{2100, 7600} { // the same, largest row twice
		for k := 0; k < width; k++ {
			put(w, n*width+k, 3)
		}
	}
	g := &graph.Graph{Name: "ties", Metadata: map[string]string{}}
	g.Inputs = []graph.ValueInfo{{Name: graph.InputIDs, Type: graph.T(graph.I64, graph.S(graph.DimBatch), graph.S(graph.DimSeq))}}
	g.Initializers = []*graph.Initializer{
		{Name: "table", Type: graph.TensorType{DType: graph.F32, Shape: graph.StaticShape(rows, width)}, Data: table},
		{Name: "head", Type: graph.TensorType{DType: graph.F32, Shape: graph.StaticShape(vocab, width)}, Data: w},
	}
	g.Nodes = []*graph.Node{
		{Name: "embed", Op: "Gather", Inputs: []string{"table", graph.InputIDs}, Outputs: []string{"x"}, Attrs: map[string]graph.Attr{"axis": graph.Int(0)}},
		{Name: "head", Op: "MatMul", Inputs: []string{"x", "head"}, Outputs: []string{graph.Logits}, Attrs: map[string]graph.Attr{"transpose_b": graph.Int(1)}},
	}
	types, err := graph.Infer(g)
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []graph.ValueInfo{{Name: graph.Logits, Type: types[graph.Logits]}}
	m, err := r.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 2, MaxSeq: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids, err := s.(*gpu.Session).ForwardGreedy(ctx, backend.Step{Tokens: [][]int32{{3, 4}, {9, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != 2100 || ids[1] != 2100 {
		t.Fatalf("greedy ids %v, want the first of the tied maxima, 2100, in both rows", ids)
	}
}
