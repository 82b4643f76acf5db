package cpu

import (
	"fmt"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["QuantizedMatMul"] = buildQuantizedMatMul
	builders["QuantizedGather"] = buildQuantizedGather
}

// quantMatrix views packed words, scales and biases as a quant.Matrix
// (no copy; the words must be 4-byte aligned, which tensors are).
func quantMatrix(w, scales, biases *tensor.Tensor, p quant.Params) (*quant.Matrix, error) {
	if w.DType != graph.U32 || w.Rank() != 2 {
		return nil, fmt.Errorf("packed weight must be u32 [N, K*bits/32], got %s%v", w.DType, w.Shape)
	}
	cols, err := p.ColsFromPacked(w.Shape[1])
	if err != nil {
		return nil, err
	}
	if scales.DType != biases.DType {
		return nil, fmt.Errorf("scales %s and biases %s differ in dtype", scales.DType, biases.DType)
	}
	return quant.NewMatrix(w.Bytes(), scales.Bytes(), biases.Bytes(), scales.DType, w.Shape[0], cols, p)
}

// quantOperands returns a kernel-time accessor for the quantized matrix of
// inputs [wi, wi+1, wi+2], built once when all three are initializers.
func quantOperands(c *compiler, n *graph.Node, wi int, p quant.Params) (func(in []*tensor.Tensor) (*quant.Matrix, error), error) {
	w, s, b := c.constant(n.Input(wi)), c.constant(n.Input(wi+1)), c.constant(n.Input(wi+2))
	if w != nil && s != nil && b != nil {
		m, err := quantMatrix(w, s, b, p)
		if err != nil {
			return nil, err
		}
		return func([]*tensor.Tensor) (*quant.Matrix, error) { return m, nil }, nil
	}
	return func(in []*tensor.Tensor) (*quant.Matrix, error) {
		return quantMatrix(in[wi], in[wi+1], in[wi+2], p)
	}, nil
}

func quantParams(n *graph.Node) (quant.Params, error) {
	p := quant.Params{Bits: int(n.Int("bits")), GroupSize: int(n.Int("group_size"))}
	return p, p.Validate()
}

func buildQuantizedMatMul(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	p, err := quantParams(n)
	if err != nil {
		return nil, err
	}
	get, err := quantOperands(c, n, 1, p)
	if err != nil {
		return nil, err
	}
	q := &quantizedMatMul{get: get}
	if c.constant(n.Input(1)) != nil && c.constant(n.Input(2)) != nil && c.constant(n.Input(3)) != nil {
		q.fixed, _ = get(nil)
	}
	if c.products == nil {
		c.products = map[*graph.Node]*quantizedMatMul{}
	}
	c.products[n] = q
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		m, err := q.get(in)
		if err != nil {
			return nil, err
		}
		outs, err := quantizedProducts(e, productSet{ms: []*quant.Matrix{m}}, in[0], nil)
		if err != nil {
			return nil, err
		}
		return outs[0], nil
	}, nil
}

// quantizedMatMul is a compiled QuantizedMatMul node.
type quantizedMatMul struct {
	get   func(in []*tensor.Tensor) (*quant.Matrix, error)
	fixed *quant.Matrix // the matrix, when its operands are initializers
}

// productSet is the matrices of a product instruction, which read one x,
// and how a one-token product splits their rows over threads: laid end to
// end (q, k, v), or paired, row i of every matrix in the same piece (gate
// and up under a fused SwiGLU, which needs both rows i at once).
type productSet struct {
	ms     []*quant.Matrix
	paired bool // the matrices have as many rows
}

// rows is how many rows the split covers.
func (s productSet) rows() int {
	if s.paired {
		return s.ms[0].Rows
	}
	n := 0
	for _, m := range s.ms {
		n += m.Rows
	}
	return n
}

// piece is the rows per piece of the split on threads (ownedPiece);
// paired, a multiple of 8, so that a fused SwiGLU's vector kernel sees
// the element boundaries SwiGLU's own does and gives the same bits.
func (s productSet) piece(threads int) int {
	p := ownedPiece(s.rows(), threads)
	if s.paired {
		p &^= 7
	}
	return p
}

// each calls f(i, r0, r1) for each matrix ms[i] that rows [lo, hi) of the
// split cover, with rows [r0, r1) of it.
func (s productSet) each(lo, hi int, f func(i, r0, r1 int)) {
	for i, m := range s.ms {
		if s.paired {
			f(i, lo, hi)
			continue
		}
		if lo < m.Rows && hi > 0 {
			f(i, max(lo, 0), min(hi, m.Rows))
		}
		lo, hi = lo-m.Rows, hi-m.Rows
	}
}

// quantizedProducts computes x · Wᵀ for the matrices of set, which share
// x, and returns one output per matrix.
//
// x is encoded once, before the rows are split over threads (which would
// otherwise wait for the first to encode it). For one token the rows of
// set are split by parallelOwned: each thread streams a contiguous share
// in one run that its prefetches cover (plain dynamic chunks measured 2-8%
// slower on 2 cores), taking over the rest of a slow thread's share at the
// end, and the products of one x (q, k, v; gate, up) cost one parallel
// region, not one each. Several tokens take the products one at a time in
// dynamic chunks.
//
// epi, for one token only, runs in the region after each piece's rows
// [lo, hi) of the split are computed, with every output's values: the
// fused epilogues (fuseEpilogues) consume the rows there, in the cache of
// the thread that wrote them.
func quantizedProducts(e *exec, set productSet, x *tensor.Tensor, epi func(lo, hi int, ys [][]float32)) ([]*tensor.Tensor, error) {
	for _, m := range set.ms {
		if x.Rank() < 1 || x.Shape[x.Rank()-1] != m.Cols {
			return nil, fmt.Errorf("x %v does not end in K=%d", x.Shape, m.Cols)
		}
	}
	xf, tmp := e.asF32(x)
	rows := x.Len() / max(set.ms[0].Cols, 1)
	outs := make([]*tensor.Tensor, len(set.ms))
	ys := make([][]float32, len(set.ms))
	for i, m := range set.ms {
		outs[i] = e.alloc(graph.F32, productShape(x, m)...)
		ys[i] = outs[i].F32()
	}
	if rows > 0 {
		prep := quant.PrepareInput(xf.F32(), rows, set.ms[0])
		e.oneToken = rows == 1
		if rows == 1 {
			e.parallelOwned(set.rows(), set.piece(e.p.threads), func(lo, hi int) {
				set.each(lo, hi, func(i, r0, r1 int) { prep.MatMulRows(ys[i], set.ms[i], r0, r1) })
				if epi != nil {
					epi(lo, hi, ys)
				}
			})
		} else {
			if epi != nil {
				panic("cpu: a product epilogue on several tokens")
			}
			for i, m := range set.ms {
				e.parallel(m.Rows, 32, func(lo, hi int) { prep.MatMulRows(ys[i], m, lo, hi) })
			}
		}
		prep.Release()
	}
	if tmp {
		e.free(xf)
	}
	for i, m := range set.ms {
		outs[i] = e.toDType(outs[i], graph.Promote(x.DType, m.ScaleType))
	}
	return outs, nil
}

// productShape is the shape of x · mᵀ: x's with the last dim m.Rows.
func productShape(x *tensor.Tensor, m *quant.Matrix) []int {
	shape := append([]int(nil), x.Shape...)
	shape[len(shape)-1] = m.Rows
	return shape
}

// sameLayout reports whether one encoding of x serves both matrices.
func sameLayout(a, b *quant.Matrix) bool {
	return a.Cols == b.Cols && a.Bits == b.Bits && a.GroupSize == b.GroupSize
}

// groupProducts merges each QuantizedMatMul of b whose matrix is an
// initializer with the later ones that read the same x and are laid out
// alike, into one instruction at the first one's place (see
// quantizedProducts). Moving the later products up is safe: x and
// initializers are all they read.
func (c *compiler) groupProducts(b *block) {
	kept := b.instrs[:0]
	merged := map[*instr]bool{}
	for i, ins := range b.instrs {
		if merged[ins] {
			continue
		}
		q := c.products[ins.node]
		if q == nil || q.fixed == nil {
			kept = append(kept, ins)
			continue
		}
		group := []*instr{ins}
		qs := []*quantizedMatMul{q}
		for _, later := range b.instrs[i+1:] {
			lq := c.products[later.node]
			if lq != nil && lq.fixed != nil && later.in[0] == ins.in[0] && sameLayout(q.fixed, lq.fixed) {
				group = append(group, later)
				qs = append(qs, lq)
				merged[later] = true
			}
		}
		set := &productSet{}
		for _, q := range qs {
			set.ms = append(set.ms, q.fixed)
		}
		if len(group) == 1 {
			ins.product = set
			kept = append(kept, ins)
			continue
		}
		// The matrices are initializers: x is the only operand left.
		g := &instr{node: ins.node, grouped: len(group), product: set, in: []int{ins.in[0]}}
		for _, m := range group {
			g.out = append(g.out, m.out...)
		}
		g.inBuf = make([]*tensor.Tensor, len(g.in))
		g.runN = func(e *exec, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
			outs, err := quantizedProducts(e, *set, in[0], nil)
			if err != nil {
				return nil, err
			}
			for _, t := range outs {
				e.p.arena.acquire(t)
			}
			return outs, nil
		}
		kept = append(kept, g)
	}
	b.instrs = kept
}

func buildQuantizedGather(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	p, err := quantParams(n)
	if err != nil {
		return nil, err
	}
	get, err := quantOperands(c, n, 0, p)
	if err != nil {
		return nil, err
	}
	// The output dtype: the "dtype" attribute when set (graph/ops_model.go),
	// else the scales' dtype (MLX's dequantize).
	var outT graph.DType
	if name := n.Str("dtype"); name != "" {
		if outT, err = graph.ParseDType(name); err != nil {
			return nil, err
		}
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		m, err := get(in)
		if err != nil {
			return nil, err
		}
		idx := in[3]
		ids := make([]int64, idx.Len())
		for i := range ids {
			ids[i] = idx.Int64At(i)
			if ids[i] < 0 {
				ids[i] += int64(m.Rows)
			}
		}
		shape := append(append([]int(nil), idx.Shape...), m.Cols)
		out := e.alloc(graph.F32, shape...)
		if err := quant.Gather(out.F32(), m, ids); err != nil {
			e.free(out)
			return nil, err
		}
		dt := outT
		if dt == graph.InvalidDType {
			dt = in[1].DType
		}
		return e.toDType(out, dt), nil
	}, nil
}

// linkProducts sets each instruction's nextProduct: the matrices of the
// next one-token product after it in b, wrapping around (a decode step's
// first product follows the previous step's last), and whether a
// KVCacheAttention comes first (attnFirst, attnLayer).
func linkProducts(b *block) {
	var next *productSet
	attn, layer := false, int64(0)
	for pass := 0; pass < 2; pass++ { // the second pass wraps around
		for i := len(b.instrs) - 1; i >= 0; i-- {
			ins := b.instrs[i]
			ins.nextProduct, ins.attnFirst, ins.attnLayer = next, attn, layer
			switch {
			case ins.product != nil:
				next, attn = ins.product, false
			case ins.node != nil && ins.node.Op == "KVCacheAttention":
				attn, layer = true, ins.node.Int("layer")
			}
		}
	}
}

// prefetchNext asks, for pool worker id of a region, the first rows of
// the share it will own in the next one-token product region into its L2
// (prefetchBudget bytes of packed weights at most, with their scales and
// biases). A worker that finishes its part of a region waits while the
// caller runs the serial ops between regions: during that time the
// memory bus is idle, and the next region's share is the same worker's
// (participant k owns share k). On the 2-core AMD EPYC Zen 4 VM, `pipeline
// bench --synthetic qwen3-0.6b-4bit`, eleven interleaved pairs: median
// 14.68 → 14.09 ms per token; Qwen3-0.6B's products alone with 7 µs of
// serial work between regions: 13.4 → 12.4 ms (median of three runs).
func (e *exec) prefetchNext(next *productSet, threads int) func(id int) {
	attn := e.attnPrefetch()
	return func(id int) {
		if attn != nil {
			attn(id)
		}
		lo, hi := ownedShare(next.rows(), next.piece(threads), threads, id)
		budget, per := prefetchBudget, prefetchBudget
		if next.paired {
			per /= len(next.ms) // as much of each matrix
		}
		next.each(lo, hi, func(i, r0, r1 int) {
			if budget > 0 {
				budget -= prefetchRows(next.ms[i], r0, r1, min(budget, per))
			}
		})
	}
}

// prefetchRows asks for rows [r0, r1) of m into the cache: at most budget
// bytes of packed words, from r0 on, and those rows' scales and biases.
// It returns the bytes of words it covered.
func prefetchRows(m *quant.Matrix, r0, r1, budget int) int {
	wb := m.WordBytes()
	perRow := len(wb) / m.Rows
	rows := min(r1-r0, max(1, budget/perRow))
	vec.Prefetch(wb[r0*perRow:][:rows*perRow])
	sb := len(m.Scales) / m.Rows
	vec.Prefetch(m.Scales[r0*sb:][:rows*sb])
	vec.Prefetch(m.Biases[r0*sb:][:rows*sb])
	return rows * perRow
}

// prefetchBudget is how much of its next share a worker prefetches: 256
// KiB did as well as 1 MiB (the L2 of a Zen 4 core).
const prefetchBudget = 256 << 10

// ownedPiece is the rows per piece of a one-token product split by
// parallelOwned: about four pieces per thread, so a slow core's share can
// be taken over, but at least 16 rows (9 KiB at 4 bits by 1024), as each
// piece is one kernel call with its own scale pass; even, so row pairs
// stay pairs.
func ownedPiece(rows, threads int) int {
	return max(16, min(128, rows/(4*threads))) &^ 1
}
