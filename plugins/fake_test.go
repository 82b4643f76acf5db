package plugins

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// fakeRuntime is a tiny runtime for protocol tests: the graph is
// logits = Gather(E, ids) · Eᵀ, and the fake reads E through the
// initializer's WeightRef exactly as a real plugin maps its weights. Each
// logit also gets 0.01 × the token's position so that sessions have state.
// A fault mode makes it misbehave on purpose.
type fakeRuntime struct {
	fault string // "", "exit-in-forward", "hang-in-forward", "panic-in-load", "refuse-load"
}

func (f *fakeRuntime) Capabilities() backend.Capabilities {
	return backend.Capabilities{Name: "fake", Device: "test double", Ops: []string{"Gather", "MatMul"}, DTypes: []graph.DType{graph.F32}}
}

func (f *fakeRuntime) Close() error { return nil }

func (f *fakeRuntime) Load(ctx context.Context, g *graph.Graph, opts backend.LoadOptions) (backend.Model, error) {
	switch f.fault {
	case "panic-in-load":
		panic("fake runtime: deliberate panic in Load")
	case "refuse-load":
		return nil, &backend.UnsupportedError{Runtime: "fake", Missing: []string{"op Imaginary"}}
	}
	e := g.Initializer("embed")
	if e == nil {
		return nil, fmt.Errorf("fake: graph has no initializer embed")
	}
	var raw []byte
	switch {
	case e.Data != nil:
		raw = e.Data
	case e.Ref != nil:
		fh, err := os.Open(e.Ref.File)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		raw = make([]byte, e.Ref.Length)
		if _, err := fh.ReadAt(raw, e.Ref.Offset); err != nil {
			return nil, fmt.Errorf("fake: read %s: %w", e.Ref.File, err)
		}
	default:
		return nil, fmt.Errorf("fake: embed has neither data nor ref")
	}
	vocab, dim := int(e.Type.Shape[0].Size), int(e.Type.Shape[1].Size)
	w := make([]float32, vocab*dim)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return &fakeModel{f: f, vocab: vocab, dim: dim, w: w}, nil
}

type fakeModel struct {
	f          *fakeRuntime
	vocab, dim int
	w          []float32
	calls      int64
}

func (m *fakeModel) NewSession(ctx context.Context, opts backend.SessionOptions) (backend.Session, error) {
	if opts.Batch <= 0 {
		return nil, fmt.Errorf("fake: batch %d", opts.Batch)
	}
	return &fakeSession{m: m, seen: make([]int, opts.Batch)}, nil
}

func (m *fakeModel) Stats() backend.Stats {
	return backend.Stats{WeightBytes: int64(4 * len(m.w)), ForwardCalls: m.calls, Extra: map[string]float64{"fake": 1}}
}

func (m *fakeModel) Close() error { return nil }

type fakeSession struct {
	m    *fakeModel
	seen []int
}

func (s *fakeSession) Forward(ctx context.Context, step backend.Step) (*backend.Logits, error) {
	switch s.m.f.fault {
	case "exit-in-forward":
		// Straight to file descriptor 2, as a crashing runtime or C library
		// would: go-plugin forwards os.Stderr asynchronously over gRPC, and
		// what is still in flight when the process exits is lost.
		fmt.Fprintln(os.NewFile(2, "stderr"), "fake runtime: about to exit mid-Forward")
		os.Exit(3)
	case "hang-in-forward":
		time.Sleep(time.Hour)
	}
	if len(step.Tokens) != len(s.seen) {
		return nil, fmt.Errorf("fake: %d rows, session has %d", len(step.Tokens), len(s.seen))
	}
	s.m.calls++
	n := len(step.Tokens[0])
	pos := 1
	if step.AllLogits {
		pos = n
	}
	lg := &backend.Logits{Batch: len(step.Tokens), Positions: pos, Vocab: s.m.vocab}
	lg.Data = make([]float32, lg.Batch*lg.Positions*lg.Vocab)
	for b, row := range step.Tokens {
		for i, tok := range row {
			p := i - (n - pos)
			if p >= 0 {
				if int(tok) < 0 || int(tok) >= s.m.vocab {
					return nil, fmt.Errorf("fake: token %d out of range", tok)
				}
				out := lg.Row(b, p)
				e := s.m.w[int(tok)*s.m.dim : (int(tok)+1)*s.m.dim]
				for v := range out {
					var dot float32
					for d, x := range e {
						dot += x * s.m.w[v*s.m.dim+d]
					}
					out[v] = dot + 0.01*float32(s.seen[b]+i)
				}
			}
		}
		s.seen[b] += n
	}
	return lg, nil
}

func (s *fakeSession) Close() error { return nil }

// fakeGraph writes a vocab×dim f32 embedding to a file under dir and returns
// the graph that references it.
func fakeGraph(dir string, vocab, dim int) (*graph.Graph, error) {
	raw := make([]byte, 0, 16+4*vocab*dim)
	raw = append(raw, "0123456789abcdef"...) // a header, so the offset is not 0
	for i := 0; i < vocab*dim; i++ {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(math.Sin(float64(i)*0.37))))
	}
	file := filepath.Join(dir, "embed.bin")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		return nil, err
	}
	f32 := func(shape ...graph.Dim) graph.TensorType { return graph.TensorType{DType: graph.F32, Shape: shape} }
	g := &graph.Graph{
		Name:    "fake",
		Inputs:  []graph.ValueInfo{{Name: graph.InputIDs, Type: graph.TensorType{DType: graph.I64, Shape: graph.Shape{graph.S("batch"), graph.S("seq")}}}},
		Outputs: []graph.ValueInfo{{Name: graph.Logits, Type: f32(graph.S("batch"), graph.S("seq"), graph.D(int64(vocab)))}},
		Initializers: []*graph.Initializer{{Name: "embed", Type: f32(graph.D(int64(vocab)), graph.D(int64(dim))),
			Ref: &graph.WeightRef{File: file, Offset: 16, Length: int64(4 * vocab * dim)}}},
		Nodes: []*graph.Node{
			{Name: "gather", Op: "Gather", Inputs: []string{"embed", graph.InputIDs}, Outputs: []string{"h"}},
			{Name: "lm_head", Op: "MatMul", Inputs: []string{"h", "embed"}, Outputs: []string{graph.Logits}, Attrs: map[string]graph.Attr{"transpose_b": graph.Int(1)}},
		},
		Metadata: map[string]string{graph.MetaVocabSize: strconv.Itoa(vocab)},
	}
	return g, graph.Verify(g)
}
