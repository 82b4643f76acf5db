package cpu

import (
	"fmt"
	"sort"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// builder checks a node's attributes once and returns its kernel. in holds
// the input types; c.constant tells which inputs are initializers.
type builder func(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error)

var builders = map[string]builder{}

// Ops lists the op types the CPU runtime executes, sorted.
func Ops() []string {
	ops := make([]string, 0, len(builders)+1)
	for k := range builders {
		ops = append(ops, k)
	}
	ops = append(ops, "If")
	sort.Strings(ops)
	return ops
}

// DTypes lists the initializer dtypes the CPU runtime reads.
func DTypes() []graph.DType {
	return []graph.DType{graph.F32, graph.F16, graph.BF16, graph.F64, graph.I64, graph.I32, graph.I8, graph.U8, graph.U32, graph.Bool}
}

type compiler struct {
	p      *Program
	types  map[string]graph.TensorType
	slotOf map[*block]map[string]int
	// scope maps the value names visible in the block being compiled to
	// their constant tensors, when they are initializers.
	consts map[string]*tensor.Tensor
	layers []int64
	// pendingSubReads passes an If's outer reads from buildIf to its instr.
	pendingSubReads []int
	// products are the compiled QuantizedMatMul nodes, for groupProducts.
	products map[*graph.Node]*quantizedMatMul
	// ropeFreqs are the default RoPE frequencies, one slice per shape.
	ropeFreqs map[ropeDefault][]float32
}

// constantF32 returns the initializer named v widened to f32 once at
// compile time (small parameters such as norm weights, which a kernel
// would otherwise widen on every call), or nil if v is not an initializer.
func (c *compiler) constantF32(v string) []float32 {
	t := c.constant(v)
	if t == nil {
		return nil
	}
	if t.DType == graph.F32 {
		return t.F32()
	}
	f := make([]float32, t.Len())
	tensor.ConvertToF32(f, t.DType, t.Bytes())
	return f
}

// constant returns the initializer tensor named v, or nil.
func (c *compiler) constant(v string) *tensor.Tensor {
	if v == "" {
		return nil
	}
	return c.consts[v]
}

func (c *compiler) loadInitializer(in *graph.Initializer) (*tensor.Tensor, error) {
	shape := make([]int, len(in.Type.Shape))
	for i, d := range in.Type.Shape {
		shape[i] = int(d.Size)
	}
	var b []byte
	switch {
	case in.Data != nil:
		b = in.Data
	case in.Ref != nil:
		var err error
		if b, err = c.p.weights.Bytes(in); err != nil {
			return nil, fmt.Errorf("cpu: initializer %q: %w", in.Name, err)
		}
	case in.Derive != nil:
		return nil, fmt.Errorf("cpu: initializer %q is derived (%s of %q) and was not materialised; run it through weights.Materialize first", in.Name, in.Derive.Op, in.Derive.Source)
	default:
		return nil, fmt.Errorf("cpu: initializer %q has no data", in.Name)
	}
	if want := in.Type.ByteSize(); int64(len(b)) != want {
		return nil, fmt.Errorf("cpu: initializer %q has %d bytes, %s needs %d", in.Name, len(b), in.Type, want)
	}
	t, err := tensor.FromBytes(in.Type.DType, shape, b)
	if err != nil {
		// Misaligned bytes (inline data, odd offsets): copy. Weights in
		// checkpoints are aligned, so this stays rare and small.
		cp := tensor.New(in.Type.DType, shape...)
		copy(cp.Bytes(), b)
		t = cp
	}
	c.p.weightBytes += int64(len(b))
	return t, nil
}

// compileBlock plans one graph level. outer maps the enclosing scope's
// value names to its slots (nil for the top level).
func (c *compiler) compileBlock(g *graph.Graph, outer map[string]int) (*block, error) {
	if c.slotOf == nil {
		c.slotOf = map[*block]map[string]int{}
		c.consts = map[string]*tensor.Tensor{}
	}
	b := &block{consts: map[int]*tensor.Tensor{}}
	slots := map[string]int{}
	c.slotOf[b] = slots
	def := func(name string) int {
		if s, ok := slots[name]; ok {
			return s
		}
		slots[name] = b.nslots
		b.names = append(b.names, name)
		b.nslots++
		return b.nslots - 1
	}
	for _, v := range g.Inputs {
		def(v.Name)
	}
	for _, in := range g.Initializers {
		t, err := c.loadInitializer(in)
		if err != nil {
			return nil, err
		}
		b.consts[def(in.Name)] = t
		c.consts[in.Name] = t
	}
	if outer != nil {
		for _, v := range graph.FreeValues(g) {
			o, ok := outer[v]
			if !ok {
				return nil, fmt.Errorf("cpu: subgraph %q reads %q, which is not defined", g.Name, v)
			}
			b.free = append(b.free, freeRef{inner: def(v), outer: o})
		}
	}
	for _, n := range g.Nodes {
		ins := &instr{node: n}
		in := make([]graph.TensorType, len(n.Inputs))
		for i, v := range n.Inputs {
			if v == "" {
				ins.in = append(ins.in, -1)
				continue
			}
			s, ok := slots[v]
			if !ok {
				return nil, nodeError(n, fmt.Errorf("input %q is not defined", v))
			}
			ins.in = append(ins.in, s)
			in[i] = c.types[v]
		}
		ins.inBuf = make([]*tensor.Tensor, len(ins.in))
		if n.Op == "If" {
			k, err := c.buildIf(n, slots)
			if err != nil {
				return nil, nodeError(n, err)
			}
			ins.runN = k
			ins.subReads, c.pendingSubReads = c.pendingSubReads, nil
		} else {
			bld, ok := builders[n.Op]
			if !ok {
				return nil, nodeError(n, fmt.Errorf("op not supported by the cpu runtime"))
			}
			k, err := bld(c, n, in)
			if err != nil {
				return nil, nodeError(n, err)
			}
			ins.run = k
			if n.Op == "KVCacheAttention" {
				c.layers = append(c.layers, n.Int("layer"))
			}
			if len(n.Outputs) != 1 {
				return nil, nodeError(n, fmt.Errorf("%d outputs, want 1", len(n.Outputs)))
			}
		}
		for _, o := range n.Outputs {
			ins.out = append(ins.out, def(o))
		}
		b.instrs = append(b.instrs, ins)
	}
	for _, o := range g.Outputs {
		s, ok := slots[o.Name]
		if !ok {
			return nil, fmt.Errorf("cpu: graph output %q is not defined", o.Name)
		}
		b.outputs = append(b.outputs, s)
	}
	c.groupProducts(b)
	c.fuseEpilogues(b)
	linkProducts(b)
	planReleases(b)
	return b, nil
}

// planReleases marks, for every value an instruction produces or a block
// borrows, the instruction after which nothing reads it. Block outputs are
// never released: they are handed to the caller.
func planReleases(b *block) {
	keep := make([]bool, b.nslots)
	for _, s := range b.outputs {
		keep[s] = true
	}
	for s := range b.consts {
		keep[s] = true // constants are never tracked; skip the bookkeeping
	}
	last := make([]int, b.nslots)
	for i := range last {
		last[i] = -1
	}
	reads := func(ins *instr) []int {
		r := append([]int(nil), ins.in...)
		r = append(r, ins.subReads...)
		return r
	}
	for i, ins := range b.instrs {
		for _, s := range reads(ins) {
			if s >= 0 {
				last[s] = i
			}
		}
	}
	for i, ins := range b.instrs {
		for _, s := range ins.out {
			if last[s] < i {
				last[s] = i // produced but never read
			}
		}
	}
	for _, f := range b.free {
		if last[f.inner] < 0 && len(b.instrs) > 0 {
			last[f.inner] = 0
		}
	}
	for s, i := range last {
		if i >= 0 && !keep[s] {
			b.instrs[i].release = append(b.instrs[i].release, s)
		}
	}
}
