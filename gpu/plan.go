package gpu

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// Plan is the launch plan of one forward call shape: batch rows, new tokens
// per row (Seq) and cache capacity. It is a fixed sequence of dispatches
// whose buffers all live in the model's weights, one arena, the session's
// KV caches and its step I/O buffer, so it can be replayed (and captured
// as a CUDA graph) for every call of that shape: what changes from step to
// step (cache length, ids, positions, mask) is read from the I/O buffer.
type Plan struct {
	Batch, Seq, Cap int
	LastOnly        bool // logits only for each row's last position
	Dispatches      []Dispatch
	ArenaBytes      int64
	Logits          Buf // LogitRows × Vocab f32
	LogitRows       int
	Vocab           int
	IO              IOLayout
	Greedy          bool // IDs holds each logit row's argmax (i32)
	IDs             Buf
}

// IOLayout places a step's host inputs in the session's I/O buffer (i32
// elements): a header (past length, total length), the running attention
// mask [B, cap], this step's ids [B, S] and positions [B, S].
type IOLayout struct {
	Batch, Cap int
}

// Byte offsets within the I/O buffer.
func (l IOLayout) HeaderOffset() int64    { return 0 }
func (l IOLayout) MaskOffset() int64      { return 64 }
func (l IOLayout) IDsOffset() int64       { return 64 + 4*int64(l.Batch*l.Cap) }
func (l IOLayout) PositionsOffset() int64 { return 64 + 8*int64(l.Batch*l.Cap) }
func (l IOLayout) Bytes() int64           { return 64 + 12*int64(l.Batch*l.Cap) }

// Threads per threadgroup of the elementwise kernels.
const elemThreads = 256

// arenaAlign is the alignment of arena tensors (16-byte vector loads need
// 16; 256 matches cudaMalloc).
const arenaAlign = 256

// Split length of decode attention (keys per threadgroup along grid y).
const attnSplit = 64

// Attention kernel limits (kernels.inc ATT_MAXD, ATT_WARPS).
const (
	attnMaxD  = 128
	attnWarps = 4
)

type storage struct {
	id        int
	size      int64
	def, last int
	offset    int64
}

type pval struct {
	name      string
	st        *storage // arena storage; nil for weights and I/O
	buf       Buf      // binding when st is nil
	off       int64    // byte offset into st
	shape     []int
	dt        graph.DType
	isInt     bool
	rowStride int    // attention_mask: its row stride (cap)
	init      string // initializer name (resolved by the consumer's role)
}

func (v *pval) elems() int {
	n := 1
	for _, d := range v.shape {
		n *= d
	}
	return n
}

type planner struct {
	p        *Program
	pl       *Plan
	vals     map[string]*pval
	stores   []*storage
	fused    map[int]bool // node indices folded into an earlier dispatch
	cons     map[string][]int
	types    map[string]graph.TensorType
	nodeName string
	groups   map[int]*mvGroup  // fused decode products, by the node that emits them
	preps    map[int]*attnPrep // fused attention prologues, by attention node
}

// Plan builds the launch plan for batch rows of seq new tokens each with a
// KV cache of capacity cap (the session's maximum sequence length).
func (p *Program) Plan(batch, seq, cap int, lastOnly bool) (*Plan, error) {
	return p.plan(batch, seq, cap, lastOnly, false)
}

// PlanGreedy is Plan for each row's last position that also picks each
// row's greedy next token on the device (Plan.IDs), so a decode step needs
// to copy back only Batch token ids.
func (p *Program) PlanGreedy(batch, seq, cap int) (*Plan, error) {
	return p.plan(batch, seq, cap, true, true)
}

func (p *Program) plan(batch, seq, cap int, lastOnly, greedy bool) (*Plan, error) {
	if batch < 1 || seq < 1 || cap < seq {
		return nil, fmt.Errorf("plan: batch %d, seq %d, capacity %d", batch, seq, cap)
	}
	pl := &Plan{Batch: batch, Seq: seq, Cap: cap, LastOnly: lastOnly, Vocab: p.Vocab, IO: IOLayout{Batch: batch, Cap: cap}}
	pr := &planner{p: p, pl: pl, vals: map[string]*pval{}, fused: map[int]bool{}, cons: map[string][]int{}}
	for i, n := range p.nodes {
		for _, in := range n.Inputs {
			pr.cons[in] = append(pr.cons[in], i)
		}
	}
	if err := pr.bind(batch, seq); err != nil {
		return nil, err
	}
	pr.planFusions()
	for i, n := range p.nodes {
		if pr.fused[i] {
			continue
		}
		pr.nodeName = n.Name
		if err := pr.node(i, n); err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.Op, err)
		}
	}
	lv := pr.vals[graph.Logits]
	if lv == nil || lv.st == nil {
		return nil, fmt.Errorf("logits are not computed on the device")
	}
	rows := lv.elems() / p.Vocab
	if lastOnly && rows == batch*seq && seq > 1 {
		// The logits were computed for every position: keep the last ones.
		out := pr.newStorage(int64(batch * p.Vocab * 4))
		nv := &pval{name: "logits.last", st: out, shape: []int{batch, 1, p.Vocab}, dt: graph.F32}
		var d Dispatch
		d.Kernel = "gp_copy2d"
		d.Params.N[0], d.Params.N[1] = int32(batch), int32(p.Vocab)
		d.Params.N[2], d.Params.N[3] = int32(p.Vocab), 0
		d.Params.N[4], d.Params.N[5] = int32(seq*p.Vocab), int32((seq-1)*p.Vocab)
		pr.emit(d, ceilDiv(batch*p.Vocab, elemThreads), elemThreads, []*pval{nv}, []*pval{lv}, pr.ref(nv), pr.ref(lv))
		lv = nv
		rows = batch
	}
	pl.LogitRows = rows
	var ids *pval
	if greedy {
		// Two steps: slices of each row in parallel, then their pairs.
		parts := min(64, ceilDiv(p.Vocab, 2048))
		part := &pval{name: "greedy_parts", shape: []int{rows, parts, 2}, dt: graph.F32}
		part.st = pr.newStorage(int64(rows*parts*2) * 4)
		ids = &pval{name: "greedy_ids", shape: []int{rows}, dt: graph.I32, isInt: true}
		ids.st = pr.newStorage(int64(rows) * 4)
		var d Dispatch
		d.Kernel = "gp_argmax_part"
		d.Params.N[0], d.Params.N[1], d.Params.N[2] = int32(rows), int32(p.Vocab), int32(parts)
		pr.emitGrid(d, [3]int{parts, rows, 1}, 256, []*pval{part}, []*pval{lv}, pr.ref(part), pr.ref(lv))
		d.Kernel = "gp_argmax_final"
		pr.emit(d, rows, 32, []*pval{ids}, []*pval{part}, pr.ref(ids), pr.ref(part))
		ids.st.last = len(pl.Dispatches)
	}
	lv.st.last = len(pl.Dispatches)
	pr.allocate()
	pl.Logits = pr.final(pr.ref(lv))
	if ids != nil {
		pl.Greedy, pl.IDs = true, pr.final(pr.ref(ids))
	}
	for i := range pl.Dispatches {
		for j, b := range pl.Dispatches[i].Args {
			pl.Dispatches[i].Args[j] = pr.final(b)
		}
	}
	return pl, nil
}

// bind computes every value's concrete shape for this call: batch and seq
// as given, past as 0 (only attention_mask depends on it, and it is laid
// out with the cache capacity as row stride).
func (pr *planner) bind(batch, seq int) error {
	g := pr.p.g
	bindings := map[string]int64{graph.DimBatch: int64(batch), graph.DimSeq: int64(seq), graph.DimPast: 0}
	types := map[string]graph.TensorType{}
	for _, in := range g.Inputs {
		t, err := concrete(in.Type, bindings)
		if err != nil {
			return fmt.Errorf("input %s: %w", in.Name, err)
		}
		types[in.Name] = t
		v := &pval{name: in.Name, dt: in.Type.DType, isInt: !in.Type.DType.IsFloat(), shape: ints(t.Shape)}
		io := pr.pl.IO
		switch in.Name {
		case graph.InputIDs:
			v.buf = Buf{Region: RegionIO, Offset: io.IDsOffset()}
		case graph.PositionIDs:
			v.buf = Buf{Region: RegionIO, Offset: io.PositionsOffset()}
		case graph.AttentionMask:
			v.buf = Buf{Region: RegionIO, Offset: io.MaskOffset()}
			v.rowStride = pr.pl.Cap
			for _, ci := range pr.cons[in.Name] {
				n := pr.p.nodes[ci]
				if (n.Op != "KVCacheAttention" && n.Op != "SDPA") || n.Input(3) != in.Name || n.Input(0) == in.Name {
					return unsupportedf("attention_mask read by %s (%s): the GPU runtimes take it only as an attention key mask (run the sdpa and native_attention passes)", n.Name, n.Op)
				}
			}
		default:
			if len(pr.cons[in.Name]) > 0 {
				return unsupportedf("graph input %s", in.Name)
			}
			continue
		}
		if !v.isInt {
			return fmt.Errorf("input %s must be an integer tensor, got %s", in.Name, in.Type)
		}
		pr.vals[in.Name] = v
	}
	for _, in := range g.Initializers {
		types[in.Name] = in.Type
		pr.vals[in.Name] = &pval{name: in.Name, dt: in.Type.DType, isInt: !in.Type.DType.IsFloat(), shape: ints(in.Type.Shape), init: in.Name}
	}
	for _, n := range pr.p.nodes {
		in := make([]graph.TensorType, len(n.Inputs))
		for i, name := range n.Inputs {
			if name != "" {
				in[i] = types[name]
			}
		}
		out, err := graph.InferNode(n, in)
		if err != nil {
			return fmt.Errorf("node %s (%s) at batch %d, seq %d: %w", n.Name, n.Op, batch, seq, err)
		}
		for i, o := range n.Outputs {
			if i < len(out) {
				if !out[i].Shape.Static() {
					return fmt.Errorf("node %s (%s): output %s has no static shape at batch %d, seq %d", n.Name, n.Op, out[i], batch, seq)
				}
				types[o] = out[i]
			}
		}
	}
	pr.types = types
	return nil
}

func unsupportedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{backend.ErrUnsupported}, args...)...)
}

func concrete(t graph.TensorType, b map[string]int64) (graph.TensorType, error) {
	s := make(graph.Shape, len(t.Shape))
	for i, d := range t.Shape {
		if d.Static() {
			s[i] = d
			continue
		}
		var sum int64
		for _, term := range strings.Split(d.Sym, "+") {
			if v, err := strconv.ParseInt(term, 10, 64); err == nil {
				sum += v
				continue
			}
			v, ok := b[term]
			if !ok {
				return t, fmt.Errorf("dim %s: unknown symbol %q", d, term)
			}
			sum += v
		}
		s[i] = graph.D(sum)
	}
	return graph.TensorType{DType: t.DType, Shape: s}, nil
}

func ints(s graph.Shape) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d.Size)
	}
	return out
}

func (pr *planner) newStorage(size int64) *storage {
	st := &storage{id: len(pr.stores), size: size, def: -1, last: -1}
	pr.stores = append(pr.stores, st)
	return st
}

// output creates the value for a node output in fresh arena storage.
func (pr *planner) output(name string) *pval {
	t := pr.types[name]
	v := &pval{name: name, dt: t.DType, isInt: !t.DType.IsFloat(), shape: ints(t.Shape)}
	v.st = pr.newStorage(int64(v.elems()) * 4)
	pr.vals[name] = v
	return v
}

// alias makes name a view of src (same bytes, new shape).
func (pr *planner) alias(name string, src *pval) {
	t := pr.types[name]
	v := *src
	v.name, v.dt, v.shape, v.init = name, t.DType, ints(t.Shape), ""
	if src.init != "" {
		v.init = src.init
	}
	pr.vals[name] = &v
}

// ref returns the binding of an activation value or of an initializer in
// its f32 (i32) form.
func (pr *planner) ref(v *pval) Buf {
	if v.init != "" {
		form := FormF32
		if v.isInt {
			form = FormI32
		}
		return Buf{Region: RegionWeight, Index: pr.p.slot[slotKey(v.init, form)]}
	}
	if v.st != nil {
		return Buf{Region: RegionArena, Index: v.st.id, Offset: v.off}
	}
	return v.buf
}

func (pr *planner) native(v *pval) (Buf, error) {
	if v.init == "" {
		return Buf{}, unsupportedf("%s must be a weight (initializer)", v.name)
	}
	i, ok := pr.p.slot[slotKey(v.init, FormNative)]
	if !ok {
		return Buf{}, fmt.Errorf("internal: no native slot for %s", v.init)
	}
	return Buf{Region: RegionWeight, Index: i}, nil
}

var dummy = Buf{Region: RegionDummy}

// emit appends a dispatch that writes outs and reads ins.
func (pr *planner) emit(d Dispatch, groups, threads int, outs, ins []*pval, args ...Buf) {
	pr.emitGrid(d, [3]int{groups, 1, 1}, threads, outs, ins, args...)
}

func (pr *planner) emitGrid(d Dispatch, grid [3]int, threads int, outs, ins []*pval, args ...Buf) {
	idx := len(pr.pl.Dispatches)
	for _, v := range outs {
		if v.st != nil && v.st.def < 0 {
			v.st.def = idx
		}
		if v.st != nil && v.st.last < idx {
			v.st.last = idx
		}
	}
	for _, v := range ins {
		if v != nil && v.st != nil && v.st.last < idx {
			v.st.last = idx
		}
	}
	d.Grid, d.Threads, d.Args = grid, threads, args
	if d.Node == "" {
		d.Node = pr.nodeName
	}
	pr.pl.Dispatches = append(pr.pl.Dispatches, d)
}

// allocate places every arena storage: storages live from their first
// write to their last read; overlapping lifetimes never share bytes.
func (pr *planner) allocate() {
	order := append([]*storage(nil), pr.stores...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].size > order[j].size })
	var placed []*storage
	var top int64
	for _, s := range order {
		if s.def < 0 { // never written: an alias root that went unused
			s.def = s.last
		}
		size := (s.size + arenaAlign - 1) / arenaAlign * arenaAlign
		var busy [][2]int64
		for _, o := range placed {
			if o.def <= s.last && s.def <= o.last {
				busy = append(busy, [2]int64{o.offset, o.offset + (o.size+arenaAlign-1)/arenaAlign*arenaAlign})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i][0] < busy[j][0] })
		var off int64
		for _, b := range busy {
			if off+size <= b[0] {
				break
			}
			if b[1] > off {
				off = b[1]
			}
		}
		s.offset = off
		placed = append(placed, s)
		if off+size > top {
			top = off + size
		}
	}
	pr.pl.ArenaBytes = top
}

func (pr *planner) final(b Buf) Buf {
	if b.Region == RegionArena {
		return Buf{Region: RegionArena, Offset: pr.stores[b.Index].offset + b.Offset}
	}
	return b
}
