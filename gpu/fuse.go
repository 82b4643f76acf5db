package gpu

import (
	"fmt"
	"os"

	"github.com/graphpass/graphpass/graph"
)

// Launch-plan fusions. Decoding one token is a chain of small products
// whose launches, not their bytes, dominate when each op is its own
// dispatch. Before planning, a pass over the graph groups:
//
//   - matrix products of at most mvMaxM rows (decode) that read the same x
//     into one gp_mv/gp_qmv dispatch: up to three weights (q/k/v), or a
//     gate/up pair together with the SwiGLU that reads them;
//   - an RMSNorm whose every consumer is such a product into those
//     products (each dispatch normalizes x itself);
//   - a KVCacheAttention's prologue (the query and key heads' RMSNorm and
//     RoPE, the transposes between them, the cache append) into one
//     gp_rope_qkv dispatch;
//
// and decode attention uses gp_attn_decode (one threadgroup per kv head
// and key split, all the query heads that read it). Each fused dispatch
// computes what the nodes it replaces compute; only float summation order
// changes. GRAPHPASS_GPU_FUSE=0 turns the fusions off (one dispatch per
// op, as before) for comparisons.

// fuseFromEnv reports whether fusions are on (GRAPHPASS_GPU_FUSE != "0").
func fuseFromEnv() bool { return os.Getenv("GRAPHPASS_GPU_FUSE") != "0" }

// mvSingleRow selects the one-row product kernels (gp_mv_*_m1) for
// single-row products; GRAPHPASS_GPU_MV1=0 uses the general ones.
func mvSingleRow() bool { return os.Getenv("GRAPHPASS_GPU_MV1") != "0" }

// mvMember is one matrix product of a fused decode dispatch.
type mvMember struct {
	node     int
	N, K     int
	kernel   string // gp_mv_<dt> or gp_qmv<bits>_<dt>
	bits     int
	group    int
	w        [3]Buf // dense: w[0]; quantized: words, scales, biases
	bias     *pval  // a folded bias Add's vector
	biasNode int    // that Add, or -1
	out      string // the member's result (after the bias)
	lastRows bool   // the LM head of a multi-token step: only each row's last position
}

// mvGroup is one fused decode dispatch.
type mvGroup struct {
	members []mvMember // 1 to 3 weights; a pair is gate, up
	pair    int        // the SwiGLU node of a gate/up pair, or -1
	norm    int        // the RMSNorm node folded in front, or -1
	x       string     // the products' input (the norm's input when folded)
}

// ropeChain is where a query or key head's rows come from before RoPE.
type ropeChain struct {
	src  string // [B,S,H,D] (bshd) or [B,H,S,D]
	norm int    // RMSNorm over D, or -1
	bshd bool
}

// attnPrep is a KVCacheAttention's fused prologue.
type attnPrep struct {
	rope  *graph.Node // the query's RoPE (the key's has the same attributes)
	q, k  ropeChain
	v     string
	vbshd bool
}

func (pr *planner) isOutput(v string) bool {
	for _, o := range pr.p.g.Outputs {
		if o.Name == v {
			return true
		}
	}
	return false
}

// producerOf returns the node index making v when its only consumer is
// node consumer, else -1.
func (pr *planner) producerOf(v string, consumer int) int {
	i, ok := pr.p.producer[v]
	if !ok || pr.soleConsumer(v) != consumer {
		return -1
	}
	return i
}

func (pr *planner) isHeadTranspose(i int) bool {
	if i < 0 {
		return false
	}
	n := pr.p.nodes[i]
	perm := n.IntList("perm")
	return n.Op == "Transpose" && len(perm) == 4 && perm[0] == 0 && perm[1] == 2 && perm[2] == 1 && perm[3] == 3
}

// planFusions decides the fusions before any dispatch is emitted and marks
// the nodes they absorb.
func (pr *planner) planFusions() {
	pr.groups = map[int]*mvGroup{}
	pr.preps = map[int]*attnPrep{}
	if !pr.p.fuse {
		return
	}
	nodes := pr.p.nodes
	for i, n := range nodes {
		if n.Op == "KVCacheAttention" {
			pr.planPrep(i)
		}
	}
	members := map[int]mvMember{}
	for i, n := range nodes {
		if n.Op == "MatMul" || n.Op == "QuantizedMatMul" {
			if m, ok := pr.mvMember(i); ok {
				members[i] = m
			}
		}
	}
	normOf := map[string]int{}
	for i, n := range nodes {
		if pr.normFoldable(i, members) {
			normOf[n.Outputs[0]] = i
			pr.fused[i] = true
		}
	}
	done := map[int]bool{}
	for i := range nodes {
		m, ok := members[i]
		if !ok || done[i] {
			continue
		}
		src := nodes[i].Input(0)
		var sibs []int
		for _, c := range pr.cons[src] {
			mc, ok := members[c]
			if !ok || done[c] || c < i || nodes[c].Input(0) != src || mc.kernel != m.kernel || mc.K != m.K || mc.group != m.group || mc.lastRows {
				continue
			}
			if len(sibs) > 0 && sibs[len(sibs)-1] == c {
				continue
			}
			sibs = append(sibs, c)
		}
		if m.lastRows {
			sibs = []int{i}
		}
		x, norm := src, -1
		if ni, ok := normOf[src]; ok {
			x, norm = nodes[ni].Input(0), ni
		}
		emit := func(idx []int, pair int) {
			g := &mvGroup{pair: pair, norm: norm, x: x}
			first := idx[0]
			for _, j := range idx {
				first = min(first, j)
				mm := members[j]
				g.members = append(g.members, mm)
				done[j] = true
				if mm.biasNode >= 0 {
					pr.fused[mm.biasNode] = true
				}
			}
			for _, j := range idx {
				if j != first {
					pr.fused[j] = true
				}
			}
			if pair >= 0 {
				pr.fused[pair] = true
			}
			pr.groups[first] = g
		}
		// Gate/up pairs: both products read only by one SwiGLU, as its two inputs.
		for _, a := range sibs {
			if done[a] {
				continue
			}
			s := pr.soleConsumer(members[a].out)
			if s < 0 || nodes[s].Op != "SwiGLU" || nodes[s].Input(0) != members[a].out {
				continue
			}
			for _, b := range sibs {
				if b == a || done[b] || nodes[s].Input(1) != members[b].out || pr.soleConsumer(members[b].out) != s {
					continue
				}
				st, at, bt := pr.types[nodes[s].Outputs[0]], pr.types[members[a].out], pr.types[members[b].out]
				if !sameShape(ints(st.Shape), ints(at.Shape)) || !sameShape(ints(at.Shape), ints(bt.Shape)) || members[a].N != members[b].N {
					continue
				}
				emit([]int{a, b}, s)
				break
			}
		}
		// The rest: up to three weights a dispatch; a product whose result
		// feeds an Add (a residual epilogue) goes alone.
		var run []int
		for _, c := range sibs {
			if done[c] {
				continue
			}
			if ac := pr.soleConsumer(members[c].out); ac >= 0 && nodes[ac].Op == "Add" {
				emit([]int{c}, -1)
				continue
			}
			run = append(run, c)
			if len(run) == 3 {
				emit(run, -1)
				run = nil
			}
		}
		if len(run) > 0 {
			emit(run, -1)
		}
	}
	// Every member is now in a group (each is among its own sibs), so a
	// folded norm's consumers, all members (normFoldable), are all grouped.
}

// mvMember reports whether node i is a matrix product the fused decode
// kernels compute, and how.
func (pr *planner) mvMember(i int) (mvMember, bool) {
	n := pr.p.nodes[i]
	m := mvMember{node: i, biasNode: -1, out: n.Outputs[0]}
	switch n.Op {
	case "MatMul":
		b := pr.vals[n.Input(1)]
		if b == nil || b.init == "" || len(b.shape) != 2 || n.Int("transpose_b") == 0 {
			return m, false
		}
		wb, err := pr.native(b)
		if err != nil {
			return m, false
		}
		sfx, err := dtSuffix(b.dt)
		if err != nil {
			return m, false
		}
		m.N, m.K, m.w[0], m.kernel = b.shape[0], b.shape[1], wb, "gp_mv_"+sfx
	case "QuantizedMatMul":
		var vs [3]*pval
		for j := range vs {
			vs[j] = pr.vals[n.Input(j+1)]
			if vs[j] == nil {
				return m, false
			}
			wb, err := pr.native(vs[j])
			if err != nil {
				return m, false
			}
			m.w[j] = wb
		}
		m.bits, m.group = int(n.Int("bits")), int(n.Int("group_size"))
		switch m.bits {
		case 2, 3, 4, 5, 6, 8:
		default:
			return m, false
		}
		if len(vs[0].shape) != 2 {
			return m, false
		}
		m.N, m.K = vs[0].shape[0], vs[0].shape[1]*32/m.bits
		sfx, err := dtSuffix(vs[1].dt)
		if err != nil || m.K%32 != 0 || m.group < 32 || m.group%32 != 0 || m.K%m.group != 0 {
			return m, false
		}
		m.kernel = fmt.Sprintf("gp_qmv%d_%s", m.bits, sfx)
	default:
		return m, false
	}
	xt := pr.types[n.Input(0)]
	xs := ints(xt.Shape)
	if !xt.DType.IsFloat() || len(xs) < 1 || xs[len(xs)-1] != m.K {
		return m, false
	}
	if xv := pr.vals[n.Input(0)]; xv != nil && (xv.isInt || xv.rowStride != 0) {
		return m, false
	}
	rows := 1
	for _, d := range xs[:len(xs)-1] {
		rows *= d
	}
	if c, ov := pr.biasAdd(m.out, m.N); c >= 0 {
		m.bias, m.biasNode, m.out = ov, c, pr.p.nodes[c].Outputs[0]
	}
	if pr.lastRowsWanted(m.out, xs) {
		if ac := pr.soleConsumer(m.out); ac >= 0 {
			return m, false
		}
		m.lastRows, rows = true, xs[0]
	}
	if m.bits > 0 && rows > 1 {
		return m, false // the quantized fused kernels take one row (kernels.inc QMV_ALL)
	}
	return m, rows <= mvMaxM && rows*m.K <= mvMaxStage
}

// mvMaxStage is how many floats of x (rows × K) the fused products stage
// in shared memory (kernels.inc MV_XSH); larger products run unfused.
const mvMaxStage = 6144

// normFoldable reports whether RMSNorm node i can be folded into every one
// of its consumers.
func (pr *planner) normFoldable(i int, members map[int]mvMember) bool {
	n := pr.p.nodes[i]
	if n.Op != "RMSNorm" || pr.fused[i] || pr.isOutput(n.Outputs[0]) {
		return false
	}
	if w := pr.vals[n.Input(1)]; w == nil || w.init == "" || w.isInt {
		return false
	}
	xt := pr.types[n.Input(0)]
	xs := ints(xt.Shape)
	if len(xs) == 0 || !xt.DType.IsFloat() {
		return false
	}
	cols := xs[len(xs)-1]
	if w := pr.vals[n.Input(1)]; len(w.shape) != 1 || w.shape[0] != cols {
		return false
	}
	cons := pr.cons[n.Outputs[0]]
	if len(cons) == 0 {
		return false
	}
	for _, c := range cons {
		m, ok := members[c]
		if !ok || pr.p.nodes[c].Input(0) != n.Outputs[0] || m.K != cols {
			return false
		}
	}
	return true
}

// ropeChain walks back from RoPE node rope to the tensor its rows come
// from, through a head transpose and an RMSNorm over D (each read only by
// the next), and lists the nodes it passes.
func (pr *planner) ropeChain(rope int) (ropeChain, []int) {
	c := ropeChain{norm: -1}
	var passed []int
	u, consumer := pr.p.nodes[rope].Input(0), rope
	if i := pr.producerOf(u, consumer); pr.isHeadTranspose(i) {
		c.bshd, u, consumer = true, pr.p.nodes[i].Input(0), i
		passed = append(passed, i)
	}
	if i := pr.producerOf(u, consumer); i >= 0 && pr.p.nodes[i].Op == "RMSNorm" {
		if w := pr.vals[pr.p.nodes[i].Input(1)]; w != nil && w.init != "" && !w.isInt {
			c.norm, u, consumer = i, pr.p.nodes[i].Input(0), i
			passed = append(passed, i)
		}
	}
	if !c.bshd {
		if i := pr.producerOf(u, consumer); pr.isHeadTranspose(i) {
			c.bshd, u = true, pr.p.nodes[i].Input(0)
			passed = append(passed, i)
		}
	}
	c.src = u
	return c, passed
}

// planPrep fuses KVCacheAttention node ia's prologue when its query and key
// come from RoPEs of one kind read only by it.
func (pr *planner) planPrep(ia int) {
	nodes := pr.p.nodes
	a := nodes[ia]
	q, k, v := a.Input(0), a.Input(1), a.Input(2)
	if q == k || q == v || k == v {
		return
	}
	iq, ik := pr.producerOf(q, ia), pr.producerOf(k, ia)
	if iq < 0 || ik < 0 || nodes[iq].Op != "RoPE" || nodes[ik].Op != "RoPE" {
		return
	}
	rq, rk := nodes[iq], nodes[ik]
	// gp_rope_qkv reads the positions before it waits for the previous
	// kernel (programmatic dependent launch): only the host-written input.
	if rq.Input(1) != graph.PositionIDs || rq.Input(1) != rk.Input(1) || rq.Input(2) != rk.Input(2) || rq.Int("dims") != rk.Int("dims") ||
		rq.Float("base") != rk.Float("base") || rq.Int("traditional") != rk.Int("traditional") || rq.Float("scale") != rk.Float("scale") {
		return
	}
	qt, kt, vt := ints(pr.types[q].Shape), ints(pr.types[k].Shape), ints(pr.types[v].Shape)
	if len(qt) != 4 || len(kt) != 4 || len(vt) != 4 {
		return
	}
	B, Hq, S, D, Hkv, Dv := qt[0], qt[1], qt[2], qt[3], kt[1], vt[3]
	dims := int(rq.Int("dims"))
	if D > 256 || dims > D || dims%2 != 0 || kt[3] != D {
		return
	}
	want := func(bshd bool, h, d int) []int {
		if bshd {
			return []int{B, S, h, d}
		}
		return []int{B, h, S, d}
	}
	pq, passedQ := pr.ropeChain(iq)
	pk, passedK := pr.ropeChain(ik)
	if !sameShape(ints(pr.types[pq.src].Shape), want(pq.bshd, Hq, D)) || !sameShape(ints(pr.types[pk.src].Shape), want(pk.bshd, Hkv, D)) {
		return
	}
	prep := &attnPrep{rope: rq, q: pq, k: pk, v: v}
	var passedV []int
	if i := pr.producerOf(v, ia); pr.isHeadTranspose(i) {
		src := nodes[i].Input(0)
		if sameShape(ints(pr.types[src].Shape), want(true, Hkv, Dv)) {
			prep.v, prep.vbshd = src, true
			passedV = append(passedV, i)
		}
	}
	for _, t := range []graph.TensorType{pr.types[pq.src], pr.types[pk.src], pr.types[prep.v]} {
		if !t.DType.IsFloat() {
			return
		}
	}
	pr.preps[ia] = prep
	for _, i := range append(append(append([]int{iq, ik}, passedQ...), passedK...), passedV...) {
		pr.fused[i] = true
	}
}

// mvWarpsPerRow picks how many warps share an output row: enough that a
// lane holds at most unr chunks of the row, more while the dispatch would
// have under 4096 warps and every lane still gets a chunk.
func mvWarpsPerRow(N, chunks, unr int) int {
	wpr := 1
	for wpr < 8 && chunks > wpr*32*unr {
		wpr *= 2
	}
	for wpr < 8 && N*wpr < 4096 && chunks >= wpr*2*32 {
		wpr *= 2
	}
	return wpr
}

// emitMV emits one fused decode product dispatch.
func (pr *planner) emitMV(g *mvGroup) error {
	x := pr.vals[g.x]
	if x == nil {
		return fmt.Errorf("input %q has no value", g.x)
	}
	if x.isInt || x.rowStride != 0 {
		return unsupportedf("MatMul of %s", x.name)
	}
	first := g.members[0]
	K := first.K
	M := x.elems() / K
	xb := pr.ref(x)
	xs := K
	ins := []*pval{x}
	var d Dispatch
	d.Kernel = first.kernel
	ys := [3]Buf{dummy, dummy, dummy}
	bs := [3]Buf{dummy, dummy, dummy}
	var outs []*pval
	N := 0
	r := dummy // a single product's residual epilogue
	switch {
	case g.pair >= 0:
		y := pr.output(pr.p.nodes[g.pair].Outputs[0])
		ys[0], N = pr.ref(y), first.N
		outs = append(outs, y)
		d.Params.N[13] = 1
		d.Params.N[18] = roundMode(y.dt)
		d.Params.N[4] = int32(N)
	case len(g.members) == 1:
		final := first.out
		var resid *pval
		if c, ov := pr.residualAdd(final); c >= 0 {
			resid = ov
			pr.fused[c] = true
			final = pr.p.nodes[c].Outputs[0]
		}
		var y *pval
		if first.lastRows && resid == nil {
			y, M, xs = pr.lastRowsOutput(final, x, &xb, K, first.N)
		} else {
			y = pr.output(final)
		}
		ys[0], N = pr.ref(y), first.N
		outs = append(outs, y)
		d.Params.N[4] = int32(N)
		if resid != nil {
			d.Params.N[5] = 1
			ins = append(ins, resid)
			r = pr.ref(resid)
		}
	default:
		for j, m := range g.members {
			y := pr.output(m.out)
			ys[j] = pr.ref(y)
			outs = append(outs, y)
			if j == 0 {
				d.Params.N[4] = int32(m.N)
			} else {
				d.Params.N[15+j] = int32(m.N)
			}
			N += m.N
		}
	}
	if M > mvMaxM || M*K > mvMaxStage {
		return fmt.Errorf("internal: fused product of %d rows of %d", M, K)
	}
	// Segment starts: rows [0,s1) are the first weight's, [s1,s2) the
	// second's, [s2,N) the third's.
	d.Params.N[11], d.Params.N[12] = int32(N), int32(N)
	if g.pair < 0 && len(g.members) > 1 {
		d.Params.N[11] = int32(g.members[0].N)
		if len(g.members) == 3 {
			d.Params.N[12] = int32(g.members[0].N + g.members[1].N)
		}
	}
	var bias int32
	for j, m := range g.members {
		if m.bias != nil {
			bias |= 1 << j
			bs[j] = pr.ref(m.bias)
		}
	}
	d.Params.N[6] = bias
	nw := dummy
	if g.norm >= 0 {
		nn := pr.p.nodes[g.norm]
		w := pr.vals[nn.Input(1)]
		nw = pr.ref(w)
		d.Params.N[14] = 1
		d.Params.F[0] = float32(nn.Float("eps"))
	}
	d.Params.N[0], d.Params.N[1], d.Params.N[2], d.Params.N[3] = int32(M), int32(N), int32(K), int32(xs)
	d.Params.N[7] = 1
	if xs%4 == 0 && xb.Offset%16 == 0 && K%4 == 0 {
		d.Params.N[10] = 1 // 16-byte loads of x
	}
	if M == 1 && (first.bits > 0 || mvSingleRow()) {
		d.Kernel += "_m1"
	}
	var wpr int
	if first.bits == 0 {
		wpr = mvWarpsPerRow(N, K/8, 4)
	} else {
		d.Params.N[8], d.Params.N[9] = int32(first.bits), int32(first.group)
		wpr = mvWarpsPerRow(N, K/32, 2)
	}
	d.Params.N[15] = int32(wpr)
	var args []Buf
	if first.bits == 0 {
		w := [3]Buf{dummy, dummy, dummy}
		for j, m := range g.members {
			w[j] = m.w[0]
		}
		args = []Buf{ys[0], ys[1], ys[2], xb, w[0], w[1], w[2], bs[0], bs[1], bs[2], r, nw}
	} else {
		var w [3][3]Buf
		for j := range w {
			w[j] = [3]Buf{dummy, dummy, dummy}
		}
		for j, m := range g.members {
			w[j] = m.w
		}
		args = []Buf{ys[0], ys[1], ys[2], xb, w[0][0], w[1][0], w[2][0], w[0][1], w[1][1], w[2][1], w[0][2], w[1][2], w[2][2], bs[0], bs[1], bs[2], r, nw}
	}
	rowsPerGroup := 8 / wpr
	pr.emit(d, ceilDiv(N, rowsPerGroup), 256, outs, ins, args...)
	return nil
}
