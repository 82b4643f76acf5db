// Package gputest checks a GPU runtime against the CPU reference runtime
// (package cpu): small graphs, one or a few ops each, on random weights and
// inputs (every weight dtype, odd sizes, GQA ratios, left padding, prefill
// then decode steps), each run on both runtimes with the same steps and
// compared logit by logit. The CUDA and Metal tests and `pipeline selftest`
// all run these cases.
package gputest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// Case is one check: a graph whose output is "logits" and the steps fed to
// a session of Batch rows.
type Case struct {
	Name   string
	Graph  *graph.Graph
	Batch  int
	MaxSeq int
	Steps  []backend.Step
	Tol    float64 // max |gpu - cpu| / max |cpu| per step
}

// Result is a Case's outcome.
type Result struct {
	Name   string
	RelErr float64 // worst step
	Err    error
}

// Run checks c on rt against the CPU reference.
func Run(ctx context.Context, rt backend.Runtime, c Case) Result {
	res := Result{Name: c.Name}
	ref, err := reference(ctx, c)
	if err != nil {
		res.Err = fmt.Errorf("reference: %w", err)
		return res
	}
	m, err := rt.Load(ctx, c.Graph, backend.LoadOptions{})
	if err != nil {
		res.Err = err
		return res
	}
	defer m.Close()
	s, err := m.NewSession(ctx, backend.SessionOptions{Batch: c.Batch, MaxSeq: c.MaxSeq})
	if err != nil {
		res.Err = err
		return res
	}
	defer s.Close()
	for i, st := range c.Steps {
		got, err := s.Forward(ctx, st)
		if err != nil {
			res.Err = fmt.Errorf("step %d: %w", i, err)
			return res
		}
		want := ref[i]
		if len(got.Data) != len(want) {
			res.Err = fmt.Errorf("step %d: %d logits, reference has %d", i, len(got.Data), len(want))
			return res
		}
		var maxRef, maxDiff float64
		for j := range want {
			g, w := float64(got.Data[j]), float64(want[j])
			if math.IsNaN(g) || math.IsInf(g, 0) {
				res.Err = fmt.Errorf("step %d: logit %d is %v (reference %v)", i, j, g, w)
				return res
			}
			maxRef = math.Max(maxRef, math.Abs(w))
			maxDiff = math.Max(maxDiff, math.Abs(g-w))
		}
		rel := maxDiff / math.Max(maxRef, 1e-30)
		res.RelErr = math.Max(res.RelErr, rel)
	}
	tol := c.Tol
	if tol == 0 {
		tol = 1e-4
	}
	if res.RelErr > tol {
		res.Err = fmt.Errorf("relative error %.3g above %.1g", res.RelErr, tol)
	}
	return res
}

// reference runs c's steps on the CPU runtime and returns each step's
// logits as the GPU session returns them (last position unless AllLogits).
func reference(ctx context.Context, c Case) ([][]float32, error) {
	p, err := cpu.Compile(c.Graph, cpu.Options{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	cache := p.NewCacheCap(c.MaxSeq)
	var mask [][]int64
	real := make([]int64, c.Batch)
	mask = make([][]int64, c.Batch)
	var out [][]float32
	for _, st := range c.Steps {
		b, s := c.Batch, len(st.Tokens[0])
		ids := make([]int64, 0, b*s)
		pos := make([]int64, 0, b*s)
		for r := 0; r < b; r++ {
			for j := 0; j < s; j++ {
				ids = append(ids, int64(st.Tokens[r][j]))
				m := int64(1)
				if st.Mask != nil && st.Mask[r][j] == 0 {
					m = 0
				}
				mask[r] = append(mask[r], m)
				if m == 1 {
					real[r]++
					pos = append(pos, real[r]-1)
				} else {
					pos = append(pos, 1)
				}
			}
		}
		t := len(mask[0])
		flat := make([]int64, 0, b*t)
		for r := 0; r < b; r++ {
			flat = append(flat, mask[r]...)
		}
		in := map[string]*tensor.Tensor{
			graph.InputIDs:      tensor.FromI64([]int{b, s}, ids),
			graph.AttentionMask: tensor.FromI64([]int{b, t}, flat),
			graph.PositionIDs:   tensor.FromI64([]int{b, s}, pos),
		}
		res, err := p.RunWithCache(ctx, cache, in)
		if err != nil {
			return nil, err
		}
		lg := res[graph.Logits].ToF32()
		v := len(lg) / (b * s)
		if st.AllLogits {
			out = append(out, lg)
			continue
		}
		last := make([]float32, 0, b*v)
		for r := 0; r < b; r++ {
			last = append(last, lg[(r*s+s-1)*v:(r*s+s)*v]...)
		}
		out = append(out, last)
	}
	return out, nil
}

// builder makes small test graphs with the decoder I/O.
type builder struct {
	g *graph.Graph
	r *rand.Rand
	n int
}

func newBuilder(name string, seed uint64) *builder {
	g := &graph.Graph{Name: name, Metadata: map[string]string{}}
	g.Inputs = []graph.ValueInfo{
		{Name: graph.InputIDs, Type: graph.T(graph.I64, graph.S(graph.DimBatch), graph.S(graph.DimSeq))},
		{Name: graph.AttentionMask, Type: graph.T(graph.I64, graph.S(graph.DimBatch), graph.S("past+seq"))},
		{Name: graph.PositionIDs, Type: graph.T(graph.I64, graph.S(graph.DimBatch), graph.S(graph.DimSeq))},
	}
	return &builder{g: g, r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (b *builder) name(p string) string { b.n++; return fmt.Sprintf("%s_%d", p, b.n) }

// weight adds a random initializer of dt: floats uniform in [-scale, scale].
func (b *builder) weight(dt graph.DType, scale float64, shape ...int64) string {
	name := b.name("w")
	ty := graph.TensorType{DType: dt, Shape: graph.StaticShape(shape...)}
	n := ty.Shape.NumElements()
	data := make([]byte, ty.ByteSize())
	for i := int64(0); i < n; i++ {
		v := float32((b.r.Float64()*2 - 1) * scale)
		switch dt {
		case graph.F32:
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		case graph.BF16:
			binary.LittleEndian.PutUint16(data[2*i:], tensor.F32ToBF16(v))
		case graph.F16:
			binary.LittleEndian.PutUint16(data[2*i:], tensor.F32ToF16(v))
		case graph.U32:
			binary.LittleEndian.PutUint32(data[4*i:], b.r.Uint32())
		}
	}
	b.g.Initializers = append(b.g.Initializers, &graph.Initializer{Name: name, Type: ty, Data: data})
	return name
}

// positive adds an initializer uniform in [lo, hi].
func (b *builder) uniform(dt graph.DType, lo, hi float64, shape ...int64) string {
	name := b.weight(dt, 1, shape...)
	in := b.g.Initializers[len(b.g.Initializers)-1]
	n := in.Type.Shape.NumElements()
	for i := int64(0); i < n; i++ {
		v := float32(lo + b.r.Float64()*(hi-lo))
		switch dt {
		case graph.F32:
			binary.LittleEndian.PutUint32(in.Data[4*i:], math.Float32bits(v))
		case graph.BF16:
			binary.LittleEndian.PutUint16(in.Data[2*i:], tensor.F32ToBF16(v))
		case graph.F16:
			binary.LittleEndian.PutUint16(in.Data[2*i:], tensor.F32ToF16(v))
		}
	}
	return name
}

func (b *builder) op(op string, attrs map[string]graph.Attr, inputs ...string) string {
	out := b.name(op)
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: b.name("n_" + op), Op: op, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

// embed returns Gather(table f32 [vocab, width], input_ids): [B, S, width].
func (b *builder) embed(width int64) string {
	return b.op("Gather", nil, b.weight(graph.F32, 1, vocabIn, width), graph.InputIDs)
}

// finish names v the logits output: v itself when the last node makes it
// (as a model's LM head does), else through an Identity.
func (b *builder) finish(v string) *graph.Graph {
	if last := b.g.Nodes[len(b.g.Nodes)-1]; last.Outputs[0] == v && last.Op != "Gather" {
		last.Outputs[0] = graph.Logits
	} else {
		b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: "logits_out", Op: "Identity", Inputs: []string{v}, Outputs: []string{graph.Logits}})
	}
	types, err := graph.Infer(b.g)
	if err != nil {
		panic(fmt.Sprintf("gputest: graph %s: %v", b.g.Name, err))
	}
	b.g.Outputs = []graph.ValueInfo{{Name: graph.Logits, Type: types[graph.Logits]}}
	if err := graph.Verify(b.g); err != nil {
		panic(fmt.Sprintf("gputest: graph %s: %v", b.g.Name, err))
	}
	return b.g
}

// vocabIn bounds the token ids the cases feed.
const vocabIn = 50
