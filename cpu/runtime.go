package cpu

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// Name is the runtime's name in Capabilities and on the command line.
const Name = "cpu"

// Runtime is the CPU runtime as a backend.Runtime.
type Runtime struct{}

// New returns the CPU runtime.
func New() *Runtime { return &Runtime{} }

var _ backend.Runtime = (*Runtime)(nil)

// Capabilities lists every catalog op the runtime executes and the weight
// dtypes it reads.
func (r *Runtime) Capabilities() backend.Capabilities {
	return backend.Capabilities{
		Name:   Name,
		Device: fmt.Sprintf("%d %s cores (%s)", runtime.NumCPU(), runtime.GOARCH, kernelName()),
		Ops:    Ops(),
		DTypes: DTypes(),
	}
}

// Close does nothing: models own their resources.
func (r *Runtime) Close() error { return nil }

// ProfileEnv, when set in a CPU runtime's environment, makes the models it
// loads time each op type; their Stats().Extra then holds the milliseconds
// spent per op under OpTimeStat+op ("op_ms.MatMul"), cumulative.
const (
	ProfileEnv = "GRAPHPASS_CPU_PROFILE"
	OpTimeStat = "op_ms."
)

// Load compiles a decoder graph (graph/decoder.go I/O) for sessions. The
// graph's weight files are memory-mapped; the matrices that decoding
// streams whole are copied, into one region in run order (streamed.go).
func (r *Runtime) Load(ctx context.Context, g *graph.Graph, opts backend.LoadOptions) (backend.Model, error) {
	if err := r.Capabilities().Check(g); err != nil {
		return nil, err
	}
	start := time.Now()
	m := &Model{store: weights.NewStore(), threads: opts.Threads}
	profile := os.Getenv(ProfileEnv) != ""
	if err := m.plan(g); err != nil {
		m.store.Close()
		return nil, err
	}
	var src WeightSource = m.store
	streamed, err := packStreamed(g, m.store)
	if err != nil {
		m.store.Close()
		return nil, err
	}
	if streamed != nil {
		m.streamed, src = streamed, streamed
	}
	all, last := decodeGraphs(g, m.logitsName)
	if m.all, err = Compile(all, Options{Weights: src, Threads: opts.Threads, Profile: profile}); err != nil {
		m.release()
		return nil, err
	}
	if last != nil {
		if m.last, err = Compile(last, Options{Weights: src, Threads: opts.Threads, Profile: profile}); err != nil {
			m.release()
			return nil, err
		}
	}
	m.compile = time.Since(start)
	return m, nil
}

// Model is a decoder graph loaded on the CPU.
type Model struct {
	mu       sync.Mutex // programs run one step at a time
	store    *weights.Store
	streamed *streamedWeights // streamed weights copied in run order (nil: none)
	threads  int
	all      *Program // every position's logits
	last     *Program // last position only (nil when the graph's head is not recognised)

	logitsName string
	vocab      int
	past       []pastIO // graph-threaded KV cache, in layer order
	maxPos     int
	useCache   bool // the graph has use_cache_branch

	compile  time.Duration
	calls    int64
	forward  time.Duration
	sessions map[*Session]bool
}

// pastIO pairs a past_key_values input with its present output.
type pastIO struct {
	in, out string
	typ     graph.TensorType // [batch, heads, past, dim]
}

// plan reads the decoder interface of g.
func (m *Model) plan(g *graph.Graph) error {
	for _, name := range []string{graph.InputIDs, graph.AttentionMask} {
		if g.Input(name) == nil {
			return fmt.Errorf("cpu: graph %q has no %q input; the runtime loads decoder graphs (see graph/decoder.go)", g.Name, name)
		}
	}
	lo := g.Output(graph.Logits)
	if lo == nil {
		return fmt.Errorf("cpu: graph %q has no %q output", g.Name, graph.Logits)
	}
	m.logitsName = graph.Logits
	types, err := graph.Infer(g)
	if err != nil {
		return fmt.Errorf("cpu: graph %q does not verify: %w", g.Name, err)
	}
	lt := types[graph.Logits]
	if lt.Shape.Rank() != 3 || !lt.Shape[2].Static() {
		return fmt.Errorf("cpu: logits are %s, want [batch, seq, vocab] with a static vocab", lt)
	}
	m.vocab = int(lt.Shape[2].Size)
	for _, in := range g.Inputs {
		switch {
		case in.Name == graph.UseCacheBranch:
			m.useCache = true
		case strings.HasPrefix(in.Name, "past_key_values."):
			out := "present." + strings.TrimPrefix(in.Name, "past_key_values.")
			if g.Output(out) == nil {
				return fmt.Errorf("cpu: graph input %q has no matching output %q", in.Name, out)
			}
			s := in.Type.Shape
			if s.Rank() != 4 || !s[1].Static() || !s[3].Static() {
				return fmt.Errorf("cpu: %q is %s, want [batch, heads, past, dim] with static heads and dim", in.Name, in.Type)
			}
			m.past = append(m.past, pastIO{in: in.Name, out: out, typ: in.Type})
		case in.Name == graph.InputIDs, in.Name == graph.AttentionMask, in.Name == graph.PositionIDs:
		default:
			return fmt.Errorf("cpu: graph input %q is not one a decoder session can feed", in.Name)
		}
	}
	if v, err := strconv.Atoi(g.Metadata[graph.MetaMaxPositions]); err == nil {
		m.maxPos = v
	}
	return nil
}

// decodeGraphs returns the graph a session runs (only logits and present
// outputs kept, the rest pruned) and, when the LM head is a recognisable
// matmul over [batch, seq, hidden], a variant that computes logits for the
// last position only.
func decodeGraphs(g *graph.Graph, logits string) (all, last *graph.Graph) {
	all = g.Clone()
	var outs []graph.ValueInfo
	for _, o := range all.Outputs {
		if o.Name == logits || strings.HasPrefix(o.Name, "present.") {
			outs = append(outs, o)
		}
	}
	all.Outputs = outs
	graph.DCE(all)

	last = all.Clone()
	var head *graph.Node
	for _, n := range last.Nodes {
		for _, o := range n.Outputs {
			if o == logits {
				head = n
			}
		}
	}
	if head == nil || (head.Op != "MatMul" && head.Op != "QuantizedMatMul") {
		return all, nil
	}
	types, err := graph.Infer(last)
	if err != nil || types[head.Inputs[0]].Shape.Rank() != 3 {
		return all, nil
	}
	sliced := "cpu.last_position." + head.Inputs[0]
	slice := &graph.Node{Name: "cpu.last_position", Op: "Slice", Inputs: []string{head.Inputs[0]}, Outputs: []string{sliced},
		Attrs: map[string]graph.Attr{"axes": graph.Ints(1), "starts": graph.Ints(-1), "ends": graph.Ints(graph.SliceEnd)}}
	head.Inputs[0] = sliced
	for i, n := range last.Nodes {
		if n == head {
			last.Nodes = append(last.Nodes[:i], append([]*graph.Node{slice}, last.Nodes[i:]...)...)
			break
		}
	}
	for i := range last.Outputs {
		if last.Outputs[i].Name == logits {
			last.Outputs[i].Type = graph.TensorType{} // now [batch, 1, vocab]
		}
	}
	if graph.Verify(last) != nil {
		return all, nil
	}
	return all, last
}

// NewSession starts a batch of sequences.
func (m *Model) NewSession(ctx context.Context, opts backend.SessionOptions) (backend.Session, error) {
	if opts.Batch < 1 {
		return nil, fmt.Errorf("cpu: session batch %d, want at least 1", opts.Batch)
	}
	maxSeq := opts.MaxSeq
	if maxSeq <= 0 {
		maxSeq = m.maxPos
	}
	s := &Session{m: m, batch: opts.Batch, maxSeq: maxSeq, cache: m.all.NewCacheCap(maxSeq)}
	s.mask = make([][]int64, opts.Batch)
	s.real = make([]int64, opts.Batch)
	m.mu.Lock()
	if m.sessions == nil {
		m.sessions = map[*Session]bool{}
	}
	m.sessions[s] = true
	m.mu.Unlock()
	return s, nil
}

// Stats reports weights, mapping, cache and timing.
func (m *Model) Stats() backend.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kv int64
	for s := range m.sessions {
		kv += s.kvBytes()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	extra := map[string]float64{"threads": float64(m.all.threads)}
	if m.streamed != nil {
		extra["streamed_weight_bytes"] = float64(m.streamed.Size())
	}
	// With ProfileEnv set, the time per op type (OpTimeStat+"MatMul").
	for _, p := range []*Program{m.all, m.last} {
		if p == nil {
			continue
		}
		for op, d := range p.OpTimes() {
			extra[OpTimeStat+op] += float64(d.Microseconds()) / 1000
		}
	}
	return backend.Stats{
		WeightBytes:   m.all.WeightBytes(),
		DeviceBytes:   int64(ms.HeapAlloc),
		MappedBytes:   m.store.MappedBytes(),
		KVCacheBytes:  kv,
		CompileMillis: float64(m.compile.Microseconds()) / 1000,
		ForwardCalls:  m.calls,
		ForwardMillis: float64(m.forward.Microseconds()) / 1000,
		Extra:         extra,
	}
}

// Close releases the programs and unmaps the weights.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.all == nil {
		return nil
	}
	return m.release()
}

// release closes what Load opened, programs before the weights they read.
func (m *Model) release() error {
	for _, p := range []*Program{m.all, m.last} {
		if p != nil {
			p.Close()
		}
	}
	m.all, m.last = nil, nil
	if m.streamed != nil {
		m.streamed.Close()
		m.streamed = nil
	}
	return m.store.Close()
}
