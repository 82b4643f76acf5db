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
	if c := pr.soleConsumer(final); c >= 0 && pr.p.nodes[c].Op == "Add" {
		add := pr.p.nodes[c]
		if ov := pr.vals[other(add, final)]; ov != nil && ov.init != "" && !ov.isInt && len(ov.shape) == 1 && ov.shape[0] == N {
			bias = ov
			pr.fused[c] = true
			final = add.Outputs[0]
		}
	}
	if c := pr.soleConsumer(final); c >= 0 && pr.p.nodes[c].Op == "Add" {
		add := pr.p.nodes[c]
		ov := pr.vals[other(add, final)]
		if ov != nil && ov.init == "" && ov.st != nil && !ov.isInt && ov.rowStride == 0 && sameShape(ov.shape, ints(pr.types[final].Shape)) &&
			sameShape(ints(pr.types[add.Outputs[0]].Shape), ov.shape) {
			resid = ov
			pr.fused[c] = true
			final = add.Outputs[0]
		}
	}

	xb := pr.ref(x)
	xs := K
	var y *pval
	S := pr.pl.Seq
	if final == graph.Logits && pr.pl.LastOnly && S > 1 && resid == nil && len(x.shape) == 3 && x.shape[1] == S {
		// Only each row's last position is wanted: read every S-th row.
		M = x.shape[0]
		xb.Offset += int64((S-1)*K) * 4
		xs = S * K
		t := pr.types[final]
		y = &pval{name: final, dt: t.DType, shape: []int{M, 1, N}}
		y.st = pr.newStorage(int64(M*N) * 4)
		pr.vals[final] = y
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

func (pr *planner) attention(n *graph.Node) error {
	q, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	k, err := pr.in(n, 1)
	if err != nil {
		return err
	}
	v, err := pr.in(n, 2)
	if err != nil {
		return err
	}
	B, Hq, S, D := q.shape[0], q.shape[1], q.shape[2], q.shape[3]
	Hkv, Dv := k.shape[1], v.shape[3]
	if D > attnMaxD || Dv > attnMaxD {
		return unsupportedf("head dim %d/%d above %d", D, Dv, attnMaxD)
	}
	y := pr.output(n.Outputs[0])
	ins := []*pval{q, k, v}
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
	nsplit := 1
	if n.Op == "KVCacheAttention" {
		slot := pr.p.layerSlot[n.Int("layer")]
		kc, vc = Buf{Region: RegionKCache, Index: slot}, Buf{Region: RegionVCache, Index: slot}
		var a Dispatch
		a.Kernel = "gp_kv_append"
		a.Params.N[0], a.Params.N[1], a.Params.N[2] = int32(B), int32(Hkv), int32(S)
		a.Params.N[3], a.Params.N[4], a.Params.N[5] = int32(D), int32(Dv), int32(pr.pl.Cap)
		total := B * Hkv * S * max(D, Dv)
		pr.emit(a, ceilDiv(total, elemThreads), elemThreads, nil, []*pval{k, v}, kc, vc, pr.ref(k), pr.ref(v), step)
		d.Params.N[6], d.Params.N[7], d.Params.N[10] = int32(pr.pl.Cap), -1, 1
		if S == 1 {
			nsplit = ceilDiv(pr.pl.Cap, attnSplit)
		}
	} else {
		kc, vc = pr.ref(k), pr.ref(v)
		T := k.shape[2]
		d.Params.N[6], d.Params.N[7] = int32(T), int32(T)
		if n.Str("mask") == "causal" {
			d.Params.N[10] = 1
		}
	}
	d.Params.N[11], d.Params.N[12] = int32(nsplit), attnSplit
	grid := [3]int{B * Hq * ceilDiv(S, attnWarps), nsplit, 1}
	if nsplit == 1 {
		pr.emitGrid(d, grid, 32*attnWarps, []*pval{y}, ins, pr.ref(y), pr.ref(q), kc, vc, maskb, step, dummy)
		return nil
	}
	rows := B * Hq * S
	part := &pval{name: n.Outputs[0] + ".partials", shape: []int{rows, nsplit, Dv + 2}, dt: graph.F32}
	part.st = pr.newStorage(int64(rows*nsplit*(Dv+2)) * 4)
	pr.emitGrid(d, grid, 32*attnWarps, []*pval{part}, ins, pr.ref(y), pr.ref(q), kc, vc, maskb, step, pr.ref(part))
	var c Dispatch
	c.Kernel = "gp_attn_combine"
	c.Params.N[0], c.Params.N[1], c.Params.N[2] = int32(rows), int32(nsplit), int32(Dv)
	pr.emit(c, rows, min(128, max(32, (Dv+31)/32*32)), []*pval{y}, []*pval{part}, pr.ref(y), pr.ref(part))
	return nil
}
