package gpu

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
)

// Matrix products with at most mvMaxM rows use the matrix-vector kernels
// (decode); larger ones the tiled kernels (prefill).
const mvMaxM = 8

// soleConsumer returns the index of the only node reading v, or -1.
func (pr *planner) soleConsumer(v string) int {
	if v == graph.Logits {
		return -1
	}
	c := pr.cons[v]
	if len(c) != 1 {
		return -1
	}
	for _, o := range pr.p.g.Outputs {
		if o.Name == v {
			return -1
		}
	}
	return c[0]
}

func (pr *planner) matmul(idx int, n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	if x.isInt || x.rowStride != 0 {
		return unsupportedf("MatMul of %s", x.name)
	}
	var (
		K, N, bits, group int
		transb            = 1
		wb, qb, sb, bb    = dummy, dummy, dummy, dummy
		wdt               graph.DType
	)
	if n.Op == "QuantizedMatMul" {
		var vs [3]*pval
		for i := range vs {
			if vs[i], err = pr.in(n, i+1); err != nil {
				return err
			}
		}
		if qb, err = pr.native(vs[0]); err != nil {
			return err
		}
		if sb, err = pr.native(vs[1]); err != nil {
			return err
		}
		if bb, err = pr.native(vs[2]); err != nil {
			return err
		}
		bits, group = int(n.Int("bits")), int(n.Int("group_size"))
		N, K = vs[0].shape[0], vs[0].shape[1]*32/bits
		wdt = vs[1].dt
	} else {
		b, err := pr.in(n, 1)
		if err != nil {
			return err
		}
		if b.init == "" || len(b.shape) != 2 {
			return unsupportedf("MatMul whose right operand %s is not a rank-2 weight (unfused attention? run the sdpa and native_attention passes)", b.name)
		}
		if wb, err = pr.native(b); err != nil {
			return err
		}
		transb = int(n.Int("transpose_b"))
		if transb != 0 {
			N, K = b.shape[0], b.shape[1]
		} else {
			K, N = b.shape[0], b.shape[1]
		}
		wdt = b.dt
	}
	sfx, err := dtSuffix(wdt)
	if err != nil {
		return err
	}
	if len(x.shape) < 1 || x.shape[len(x.shape)-1] != K {
		return fmt.Errorf("x %v does not end in K=%d", x.shape, K)
	}
	M := x.elems() / K

	// Epilogues: a bias Add and then a residual Add fold into the product.
	final := n.Outputs[0]
	var bias, resid *pval
	if c, ov := pr.biasAdd(final, N); c >= 0 {
		bias = ov
		pr.fused[c] = true
		final = pr.p.nodes[c].Outputs[0]
	}
	if c, ov := pr.residualAdd(final); c >= 0 {
		resid = ov
		pr.fused[c] = true
		final = pr.p.nodes[c].Outputs[0]
	}

	xb := pr.ref(x)
	xs := K
	var y *pval
	if resid == nil && pr.lastRowsWanted(final, x.shape) {
		y, M, xs = pr.lastRowsOutput(final, x, &xb, K, N)
	} else {
		y = pr.output(final)
	}
	ins := []*pval{x}
	var d Dispatch
	d.Params.N[0], d.Params.N[1], d.Params.N[2] = int32(M), int32(N), int32(K)
	d.Params.N[3], d.Params.N[4] = int32(xs), int32(N)
	rb, biasb := dummy, dummy
	if resid != nil {
		d.Params.N[5] = 1
		rb = pr.ref(resid)
		ins = append(ins, resid)
	}
	if bias != nil {
		d.Params.N[6] = 1
		biasb = pr.ref(bias)
	}
	d.Params.N[7] = int32(transb)
	d.Params.N[8], d.Params.N[9] = int32(bits), int32(group)
	aligned := xs%4 == 0 && xb.Offset%16 == 0
	switch {
	case M <= mvMaxM && bits == 0:
		if K%8 == 0 && aligned {
			d.Params.N[10] = 1
		}
		d.Kernel = "gp_matvec_" + sfx
		groups := ceilDiv(N, 8)
		if transb == 0 {
			groups = ceilDiv(N, 256)
		}
		pr.emit(d, groups, 256, []*pval{y}, ins, pr.ref(y), xb, wb, rb, biasb)
	case M <= mvMaxM && aligned:
		d.Kernel = fmt.Sprintf("gp_qmatvec%d_%s", bits, sfx)
		pr.emit(d, ceilDiv(N, 8), 256, []*pval{y}, ins, pr.ref(y), xb, qb, sb, bb, rb, biasb)
	default:
		d.Kernel = "gp_gemm_" + sfx
		pr.emitGrid(d, [3]int{ceilDiv(N, 64), ceilDiv(M, 64), 1}, 256, []*pval{y}, ins, pr.ref(y), xb, wb, qb, sb, bb, rb, biasb)
	}
	return nil
}

// biasAdd returns the Add that is the only consumer of v, a product's
// result of N columns, when it adds a bias (a float weight vector of N),
// and that vector; else -1 and nil.
func (pr *planner) biasAdd(v string, N int) (int, *pval) {
	c := pr.soleConsumer(v)
	if c < 0 || pr.p.nodes[c].Op != "Add" {
		return -1, nil
	}
	ov := pr.vals[other(pr.p.nodes[c], v)]
	if ov != nil && ov.init != "" && !ov.isInt && len(ov.shape) == 1 && ov.shape[0] == N {
		return c, ov
	}
	return -1, nil
}

// residualAdd returns the Add that is the only consumer of v, a product's
// result, when it adds a residual (a computed float tensor in the arena
// of v's shape, the sum's shape too), and that residual; else -1 and nil.
func (pr *planner) residualAdd(v string) (int, *pval) {
	c := pr.soleConsumer(v)
	if c < 0 || pr.p.nodes[c].Op != "Add" {
		return -1, nil
	}
	add := pr.p.nodes[c]
	ov := pr.vals[other(add, v)]
	if ov != nil && ov.init == "" && ov.st != nil && !ov.isInt && ov.rowStride == 0 && sameShape(ov.shape, ints(pr.types[v].Shape)) &&
		sameShape(ints(pr.types[add.Outputs[0]].Shape), ov.shape) {
		return c, ov
	}
	return -1, nil
}

// lastRowsWanted reports whether out, a product's result whose input has
// shape xshape, is the logits of a multi-token step of which only each
// row's last position is wanted.
func (pr *planner) lastRowsWanted(out string, xshape []int) bool {
	S := pr.pl.Seq
	return out == graph.Logits && pr.pl.LastOnly && S > 1 && len(xshape) == 3 && xshape[1] == S
}

// lastRowsOutput binds out, the logits of a product of N columns whose
// input x is [B,S,K] (lastRowsWanted), as [B,1,N] in new storage and
// moves xb, x's binding, to the first row's last position: the product
// reads every S-th row. It returns the output, its rows (B) and x's row
// stride (S*K).
func (pr *planner) lastRowsOutput(out string, x *pval, xb *Buf, K, N int) (*pval, int, int) {
	S := pr.pl.Seq
	M := x.shape[0]
	xb.Offset += int64((S-1)*K) * 4
	t := pr.types[out]
	y := &pval{name: out, dt: t.DType, shape: []int{M, 1, N}}
	y.st = pr.newStorage(int64(M*N) * 4)
	pr.vals[out] = y
	return y, M, S * K
}

func other(n *graph.Node, v string) string {
	if n.Input(0) == v {
		return n.Input(1)
	}
	return n.Input(0)
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (pr *planner) attention(idx int, n *graph.Node) error {
	prep := pr.preps[idx]
	var q, k, v *pval
	if prep == nil {
		var err error
		if q, err = pr.in(n, 0); err != nil {
			return err
		}
		if k, err = pr.in(n, 1); err != nil {
			return err
		}
		if v, err = pr.in(n, 2); err != nil {
			return err
		}
	}
	qt, kt, vt := ints(pr.types[n.Input(0)].Shape), ints(pr.types[n.Input(1)].Shape), ints(pr.types[n.Input(2)].Shape)
	B, Hq, S, D := qt[0], qt[1], qt[2], qt[3]
	Hkv, Dv := kt[1], vt[3]
	if D > attnMaxD || Dv > attnMaxD {
		return unsupportedf("head dim %d/%d above %d", D, Dv, attnMaxD)
	}
	y := pr.output(n.Outputs[0])
	var ins []*pval
	maskb := dummy
	var d Dispatch
	d.Kernel = "gp_attention"
	d.Params.N[0], d.Params.N[1], d.Params.N[2], d.Params.N[3] = int32(B), int32(Hq), int32(Hkv), int32(S)
	d.Params.N[4], d.Params.N[5] = int32(D), int32(Dv)
	d.Params.F[0] = float32(n.Float("scale"))
	if n.Input(3) != "" {
		m, err := pr.in(n, 3)
		if err != nil {
			return err
		}
		if !m.isInt {
			return unsupportedf("float key_mask %s", m.name)
		}
		stride := m.rowStride
		if stride == 0 {
			stride = m.shape[len(m.shape)-1]
		}
		d.Params.N[8], d.Params.N[9] = 1, int32(stride)
		maskb = pr.ref(m)
		ins = append(ins, m)
	}
	step := Buf{Region: RegionIO, Offset: pr.pl.IO.HeaderOffset()}
	var kc, vc Buf
	nsplit, splitLen := 1, attnSplit
	if n.Op == "KVCacheAttention" {
		slot := pr.p.layerSlot[n.Int("layer")]
		kc, vc = Buf{Region: RegionKCache, Index: slot}, Buf{Region: RegionVCache, Index: slot}
		if prep != nil {
			var err error
			if q, err = pr.emitPrep(n, prep, kc, vc, step); err != nil {
				return err
			}
		} else {
			var a Dispatch
			a.Kernel = "gp_kv_append"
			a.Params.N[0], a.Params.N[1], a.Params.N[2] = int32(B), int32(Hkv), int32(S)
			a.Params.N[3], a.Params.N[4], a.Params.N[5] = int32(D), int32(Dv), int32(pr.pl.Cap)
			total := B * Hkv * S * max(D, Dv)
			pr.emit(a, ceilDiv(total, elemThreads), elemThreads, nil, []*pval{k, v}, kc, vc, pr.ref(k), pr.ref(v), step)
		}
		d.Params.N[6], d.Params.N[7], d.Params.N[10] = int32(pr.pl.Cap), -1, 1
		if S == 1 && pr.p.fuse && Hq%Hkv == 0 && Hq/Hkv <= attnDecodeMaxGroup && D%4 == 0 && Dv%4 == 0 {
			d.Kernel = "gp_attn_decode"
			splitLen = decodeSplit(pr.pl.Cap)
			nsplit = ceilDiv(pr.pl.Cap, splitLen)
		} else if S == 1 {
			nsplit = ceilDiv(pr.pl.Cap, attnSplit)
		}
	} else {
		kc, vc = pr.ref(k), pr.ref(v)
		T := k.shape[2]
		d.Params.N[6], d.Params.N[7] = int32(T), int32(T)
		if n.Str("mask") == "causal" {
			d.Params.N[10] = 1
		}
		ins = append(ins, k, v)
	}
	ins = append(ins, q)
	if nsplit > attnMaxSplits {
		return unsupportedf("KV cache capacity %d: decode attention merges at most %d splits of %d keys", pr.pl.Cap, attnMaxSplits, splitLen)
	}
	d.Params.N[11], d.Params.N[12] = int32(nsplit), int32(splitLen)
	grid := [3]int{B * Hq * ceilDiv(S, attnWarps), nsplit, 1}
	threads := 32 * attnWarps
	if d.Kernel == "gp_attn_decode" {
		grid = [3]int{B * Hkv, nsplit, 1}
		threads = 32 * attnDecodeWarps
	}
	if nsplit == 1 {
		pr.emitGrid(d, grid, threads, []*pval{y}, ins, pr.ref(y), pr.ref(q), kc, vc, maskb, step, dummy)
		return nil
	}
	rows := B * Hq * S
	part := &pval{name: n.Outputs[0] + ".partials", shape: []int{rows, nsplit, Dv + 2}, dt: graph.F32}
	part.st = pr.newStorage(int64(rows*nsplit*(Dv+2)) * 4)
	pr.emitGrid(d, grid, threads, []*pval{part}, ins, pr.ref(y), pr.ref(q), kc, vc, maskb, step, pr.ref(part))
	var c Dispatch
	c.Kernel = "gp_attn_combine"
	c.Params.N[0], c.Params.N[1], c.Params.N[2] = int32(rows), int32(nsplit), int32(Dv)
	pr.emit(c, rows, min(128, max(32, (Dv+31)/32*32)), []*pval{y}, []*pval{part}, pr.ref(y), pr.ref(part))
	return nil
}

// Decode attention (gp_attn_decode) limits: kernels.inc AD_MAXG, AD_WARPS,
// AD_MAXSPLIT.
const (
	attnDecodeMaxGroup = 8
	attnDecodeWarps    = 4
	attnDecodeMaxSplit = 128
)

// decodeSplit picks decode attention's keys per threadgroup: one pass of
// its warps (attnDecodeWarps × 8 keys, keys and values loaded together),
// longer only where the splits would outnumber what gp_attn_combine takes.
func decodeSplit(capacity int) int {
	l := attnDecodeWarps * 8
	for ceilDiv(capacity, l) > attnMaxSplits && l < attnDecodeMaxSplit {
		l *= 2
	}
	return l
}

// attnMaxSplits bounds the key splits gp_attn_combine merges (AC_MAXSPLIT).
const attnMaxSplits = 2048

// emitPrep emits a KVCacheAttention's fused prologue (gp_rope_qkv) and
// returns the roped queries.
func (pr *planner) emitPrep(n *graph.Node, prep *attnPrep, kc, vc, step Buf) (*pval, error) {
	get := func(name string) (*pval, error) {
		v := pr.vals[name]
		if v == nil {
			return nil, fmt.Errorf("input %q has no value", name)
		}
		if v.isInt || v.rowStride != 0 {
			return nil, unsupportedf("attention input %s", name)
		}
		return v, nil
	}
	xq, err := get(prep.q.src)
	if err != nil {
		return nil, err
	}
	xk, err := get(prep.k.src)
	if err != nil {
		return nil, err
	}
	xv, err := get(prep.v)
	if err != nil {
		return nil, err
	}
	rope := prep.rope
	pos := pr.vals[rope.Input(1)]
	if pos == nil || !pos.isInt || len(pos.shape) != 2 {
		return nil, fmt.Errorf("positions %s must be integer [B,S]", rope.Input(1))
	}
	qt, kt, vt := ints(pr.types[n.Input(0)].Shape), ints(pr.types[n.Input(1)].Shape), ints(pr.types[n.Input(2)].Shape)
	B, Hq, S, D, Hkv, Dv := qt[0], qt[1], qt[2], qt[3], kt[1], vt[3]
	qo := pr.output(n.Input(0))
	ins := []*pval{xq, xk, xv, pos}
	dims := rope.Int("dims")
	freqs := Buf{Region: RegionWeight, Index: pr.p.slot[ropeKey(dims, rope.Float("base"))]}
	if rope.Input(2) != "" {
		f := pr.vals[rope.Input(2)]
		if f == nil {
			return nil, fmt.Errorf("inv_freq %q has no value", rope.Input(2))
		}
		freqs = pr.ref(f)
		ins = append(ins, f)
	}
	var d Dispatch
	d.Kernel = "gp_rope_qkv"
	d.Params.N[0], d.Params.N[1], d.Params.N[2], d.Params.N[3] = int32(B), int32(Hq), int32(Hkv), int32(S)
	d.Params.N[4], d.Params.N[5], d.Params.N[6] = int32(D), int32(Dv), int32(pr.pl.Cap)
	d.Params.N[7], d.Params.N[8] = int32(dims), int32(rope.Int("traditional"))
	d.Params.F[0] = float32(rope.Float("scale"))
	qw, kw := dummy, dummy
	if prep.q.norm >= 0 {
		nn := pr.p.nodes[prep.q.norm]
		qw = pr.ref(pr.vals[nn.Input(1)])
		d.Params.N[9], d.Params.F[1] = 1, float32(nn.Float("eps"))
	}
	if prep.k.norm >= 0 {
		nn := pr.p.nodes[prep.k.norm]
		kw = pr.ref(pr.vals[nn.Input(1)])
		d.Params.N[10], d.Params.F[2] = 1, float32(nn.Float("eps"))
	}
	var layout int32
	if prep.q.bshd {
		layout |= 1
	}
	if prep.k.bshd {
		layout |= 2
	}
	if prep.vbshd {
		layout |= 4
	}
	d.Params.N[11] = layout
	rows := B * S * (Hq + 2*Hkv)
	pr.emit(d, ceilDiv(rows, ropeQKVWarps), 32*ropeQKVWarps, []*pval{qo}, ins, pr.ref(qo), kc, vc, pr.ref(xq), pr.ref(xk), pr.ref(xv), qw, kw, pr.ref(pos), freqs, step)
	return qo, nil
}

// ropeQKVWarps is gp_rope_qkv's warps per threadgroup (kernels.inc RQ_WARPS).
const ropeQKVWarps = 4
