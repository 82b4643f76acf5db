package cpu

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
	"github.com/graphpass/graphpass/weights"
)

// Options configure Compile.
type Options struct {
	// Weights resolves the bytes of initializers held by reference. Nil
	// means a weights.Store of the program's own, which maps each
	// referenced file read-only once and unmaps it on Close; initializers
	// with inline Data need no source.
	Weights WeightSource
	// Threads is the number of goroutines kernels split work across;
	// 0 means GOMAXPROCS.
	Threads int
	// Profile records the time spent in each op type (see OpTimes).
	Profile bool
}

// WeightSource resolves an initializer to its little-endian element bytes,
// typically a slice of a memory-mapped checkpoint; *weights.Store is one.
type WeightSource interface {
	Bytes(in *graph.Initializer) ([]byte, error)
}

// A kernel computes one node's single output from its inputs.
type kernel func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error)

// A multiKernel computes a node with several outputs (If).
type multiKernel func(e *exec, in []*tensor.Tensor) ([]*tensor.Tensor, error)

type instr struct {
	node    *graph.Node
	run     kernel
	runN    multiKernel
	in      []int // value slots; -1 for an omitted optional input
	out     []int
	release []int // slots whose last use is this instruction
	// subReads are the enclosing values an If's branches read.
	subReads []int
	inBuf    []*tensor.Tensor
	// grouped is how many QuantizedMatMul nodes this instruction runs
	// (groupProducts); node is the first.
	grouped int
	// product is the fixed matrices of a product instruction
	// (QuantizedMatMul, alone, grouped or fused), whose rows parallelOwned
	// splits for one token; nextProduct is the next such instruction's, in
	// run order and around the block (the next token's first product
	// follows the last). See prefetchNext.
	product, nextProduct *productSet
	// fused names an instruction that runs a product and the op that
	// consumed it (fuseEpilogues), for the op times: "QuantizedMatMul+Add".
	fused string
	// attnFirst says the next KVCacheAttention comes before nextProduct;
	// attnLayer is its layer (see prefetchNext).
	attnFirst bool
	attnLayer int64
}

// block is one graph level: the top-level graph or an If branch.
type block struct {
	nslots  int
	names   []string // slot → value name, for errors
	consts  map[int]*tensor.Tensor
	instrs  []*instr
	outputs []int
	// free lists the enclosing values the block reads: slot here, slot there.
	free []freeRef
}

type freeRef struct{ inner, outer int }

// Program is a compiled graph. A Program is not safe for concurrent use:
// Run reuses its scratch buffers from one call to the next.
type Program struct {
	top     *block
	inputs  []ioValue
	outputs []ioValue
	threads int
	arena   *arena
	cache   *Cache
	layers  []int64 // KVCacheAttention layer ids
	weights WeightSource
	closer  func() error
	// weightBytes counts the bytes of every initializer the program reads.
	weightBytes int64
	profile     bool
	opTimes     map[string]time.Duration
}

// OpTimes returns the time spent per op type over all runs so far, when
// the program was compiled with Options.Profile.
func (p *Program) OpTimes() map[string]time.Duration {
	out := make(map[string]time.Duration, len(p.opTimes))
	for k, v := range p.opTimes {
		out[k] = v
	}
	return out
}

type ioValue struct {
	name string
	slot int
	typ  graph.TensorType
}

// Compile checks g and plans its execution. Every op of g must be one the
// runtime knows (see Ops); otherwise the error wraps backend.ErrUnsupported.
func Compile(g *graph.Graph, opts Options) (*Program, error) {
	types, err := graph.Infer(g)
	if err != nil {
		return nil, fmt.Errorf("cpu: graph %q does not verify: %w", g.Name, err)
	}
	if err := (backend.Capabilities{Name: "cpu", Ops: Ops(), DTypes: DTypes()}).Check(g); err != nil {
		return nil, err
	}
	p := &Program{threads: opts.Threads, arena: newArena(), weights: opts.Weights, profile: opts.Profile, opTimes: map[string]time.Duration{}}
	if p.threads <= 0 {
		p.threads = runtime.GOMAXPROCS(0)
	}
	if p.weights == nil {
		s := weights.NewStore()
		p.weights, p.closer = s, s.Close
	}
	c := &compiler{p: p, types: types}
	top, err := c.compileBlock(g, nil)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.top = top
	slot := func(name string) int { return c.slotOf[top][name] }
	for _, v := range g.Inputs {
		p.inputs = append(p.inputs, ioValue{v.Name, slot(v.Name), v.Type})
	}
	for _, v := range g.Outputs {
		p.outputs = append(p.outputs, ioValue{v.Name, slot(v.Name), types[v.Name]})
	}
	seen := map[int64]bool{}
	for _, l := range c.layers {
		if seen[l] {
			p.Close()
			return nil, fmt.Errorf("cpu: two KVCacheAttention nodes share layer %d", l)
		}
		seen[l] = true
	}
	p.layers = c.layers
	sort.Slice(p.layers, func(i, j int) bool { return p.layers[i] < p.layers[j] })
	p.cache = p.NewCache()
	return p, nil
}

// Close releases the program's mapped weights (when it mapped them itself)
// and the memory of its own KV cache.
func (p *Program) Close() error {
	p.cache.release()
	if p.closer != nil {
		err := p.closer()
		p.closer = nil
		return err
	}
	return nil
}

// Inputs lists the graph inputs Run expects, with their declared types.
func (p *Program) Inputs() []graph.ValueInfo {
	out := make([]graph.ValueInfo, len(p.inputs))
	for i, v := range p.inputs {
		out[i] = graph.ValueInfo{Name: v.name, Type: v.typ}
	}
	return out
}

// Outputs lists the graph outputs Run returns, with their inferred types.
func (p *Program) Outputs() []graph.ValueInfo {
	out := make([]graph.ValueInfo, len(p.outputs))
	for i, v := range p.outputs {
		out[i] = graph.ValueInfo{Name: v.name, Type: v.typ}
	}
	return out
}

// WeightBytes is the size of every initializer the program reads.
func (p *Program) WeightBytes() int64 { return p.weightBytes }

// Stateful reports whether the graph has KVCacheAttention nodes, whose
// cache Run keeps between calls.
func (p *Program) Stateful() bool { return len(p.layers) > 0 }

// ResetCache empties the program's own KV cache: the next Run is a prefill.
func (p *Program) ResetCache() { p.cache.Reset() }

// Run executes the graph on named inputs and returns every graph output by
// name, using (and advancing) the program's own KV cache. Returned tensors
// belong to the caller.
func (p *Program) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return p.RunWithCache(ctx, p.cache, inputs)
}

// RunWithCache is Run with an explicit KV cache (from NewCache), so several
// sequences can share one program.
func (p *Program) RunWithCache(ctx context.Context, cache *Cache, inputs map[string]*tensor.Tensor) (out map[string]*tensor.Tensor, err error) {
	if err := p.checkInputs(inputs); err != nil {
		return nil, err
	}
	env := make([]*tensor.Tensor, p.top.nslots)
	for _, v := range p.inputs {
		env[v.slot] = inputs[v.name]
	}
	e := &exec{ctx: ctx, p: p, cache: cache}
	mark := cache.mark()
	defer func() {
		// A panic in a kernel is a bug in this package; report it as an
		// error naming the node rather than taking the process down.
		if r := recover(); r != nil {
			e.abandon(p.top, env)
			cache.rollback(mark)
			p.arena = newArena() // its bookkeeping may be inconsistent now
			var n *graph.Node
			if e.ins != nil {
				n = e.ins.node
			}
			out, err = nil, fmt.Errorf("cpu: internal error running %s: %v", describe(n), r)
		}
	}()
	if err := e.runBlock(p.top, env); err != nil {
		e.abandon(p.top, env)
		cache.rollback(mark) // a failed step leaves the cache as it was
		return nil, err
	}
	out = make(map[string]*tensor.Tensor, len(p.outputs))
	for _, v := range p.outputs {
		t := env[v.slot]
		p.arena.detach(t)
		out[v.name] = t
	}
	return out, nil
}

// checkInputs checks presence, dtype and shape of every input and binds
// symbolic dims consistently.
func (p *Program) checkInputs(inputs map[string]*tensor.Tensor) error {
	var problems []string
	known := map[string]bool{}
	bind := map[string]int64{}
	type sumDim struct {
		name, sym string
		dim       int
		got       int64
	}
	var sums []sumDim
	for _, v := range p.inputs {
		known[v.name] = true
		t, ok := inputs[v.name]
		if !ok || t == nil {
			problems = append(problems, fmt.Sprintf("input %q (%s) is missing", v.name, v.typ))
			continue
		}
		if t.DType != v.typ.DType || t.Rank() != v.typ.Shape.Rank() {
			problems = append(problems, fmt.Sprintf("input %q is %s%v, want %s", v.name, t.DType, t.Shape, v.typ))
			continue
		}
		for i, d := range v.typ.Shape {
			got := int64(t.Shape[i])
			switch {
			case d.Static():
				if got != d.Size {
					problems = append(problems, fmt.Sprintf("input %q dim %d is %d, want %d", v.name, i, got, d.Size))
				}
			case d.IsUnknown():
			case !strings.Contains(d.Sym, "+"):
				if b, ok := bind[d.Sym]; ok && b != got {
					problems = append(problems, fmt.Sprintf("input %q dim %d (%s) is %d, but %s = %d elsewhere", v.name, i, d.Sym, got, d.Sym, b))
				}
				bind[d.Sym] = got
			default:
				sums = append(sums, sumDim{v.name, d.Sym, i, got})
			}
		}
	}
	for _, s := range sums {
		var total int64
		ok := true
		for _, term := range strings.Split(s.sym, "+") {
			var n int64
			if _, err := fmt.Sscan(term, &n); err == nil {
				total += n
				continue
			}
			b, bound := bind[term]
			if !bound {
				ok = false
				break
			}
			total += b
		}
		if ok && total != s.got {
			problems = append(problems, fmt.Sprintf("input %q dim %d (%s) is %d, want %d", s.name, s.dim, s.sym, s.got, total))
		}
	}
	for name := range inputs {
		if !known[name] {
			problems = append(problems, fmt.Sprintf("%q is not an input of the graph", name))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("cpu: bad inputs: %s", strings.Join(problems, "; "))
}

// exec is the state of one Run.
type exec struct {
	ctx   context.Context
	p     *Program
	cache *Cache
	env   []*tensor.Tensor // the block being run
	// ins is the instruction running: its node names the error a kernel
	// panic becomes, and its links say what its regions' workers prefetch
	// (prefetchNext).
	ins *instr
	// oneToken says the last product ran on one token (decode), when
	// prefetching pays.
	oneToken bool
	rope     map[ropeKey]*ropeCache
}

func (e *exec) runBlock(b *block, env []*tensor.Tensor) error {
	saved := e.env
	e.env = env
	defer func() { e.env = saved }()
	for s, t := range b.consts {
		env[s] = t
	}
	a := e.p.arena
	for _, f := range b.free {
		a.acquire(env[f.inner])
	}
	for _, ins := range b.instrs {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		e.ins = ins
		in := ins.inBuf[:len(ins.in)]
		for i, s := range ins.in {
			if s < 0 {
				in[i] = nil
			} else {
				in[i] = env[s]
			}
		}
		var start time.Time
		if e.p.profile {
			start = time.Now()
		}
		if ins.run != nil {
			t, err := ins.run(e, in)
			if err != nil {
				return nodeError(ins.node, err)
			}
			env[ins.out[0]] = t
			a.acquire(t)
		} else {
			// A multiKernel hands over its outputs already acquired.
			ts, err := ins.runN(e, in)
			if err != nil {
				return nodeError(ins.node, err)
			}
			for i, t := range ts {
				env[ins.out[i]] = t
			}
		}
		if e.p.profile && (ins.runN == nil || ins.grouped > 0) {
			op := ins.node.Op
			if ins.fused != "" {
				op = ins.fused
			}
			e.p.opTimes[op] += time.Since(start)
		}
		for i := range in {
			in[i] = nil
		}
		for _, s := range ins.release {
			a.release(env[s])
			env[s] = nil
		}
	}
	return nil
}

// abandon releases what a failed run still holds so buffers are not lost
// to the pool (they would merely be garbage collected otherwise).
func (e *exec) abandon(b *block, env []*tensor.Tensor) {
	for i, t := range env {
		if t != nil {
			e.p.arena.detach(t)
			env[i] = nil
		}
	}
}

func describe(n *graph.Node) string {
	if n == nil {
		return "the graph"
	}
	return fmt.Sprintf("node %q (%s)", n.Name, n.Op)
}

func nodeError(n *graph.Node, err error) error {
	return fmt.Errorf("node %q (%s): %w", n.Name, n.Op, err)
}

// alloc returns an uninitialised tensor from the program's arena.
func (e *exec) alloc(dt graph.DType, shape ...int) *tensor.Tensor {
	n := tensor.NumElements(shape) * dt.Size()
	t, err := tensor.FromBytes(dt, shape, e.p.arena.alloc(n))
	if err != nil {
		panic(err) // arena buffers are sized and aligned by construction
	}
	return t
}

// free returns a kernel's temporary tensor to the arena.
func (e *exec) free(t *tensor.Tensor) {
	e.p.arena.acquire(t)
	e.p.arena.release(t)
}

// view returns a tensor sharing t's bytes with another shape.
func view(t *tensor.Tensor, shape []int) *tensor.Tensor {
	v, err := tensor.FromBytes(t.DType, shape, t.Bytes())
	if err != nil {
		panic(err)
	}
	return v
}

// recycle hands a tensor returned by an earlier Run back to the arena; the
// caller must hold no other reference to it.
func (p *Program) recycle(t *tensor.Tensor) { p.arena.recycle(t) }
