package gpu

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
)

var unaryCodes = map[string]int32{
	"Identity": 0, "Neg": 1, "Abs": 2, "Sqrt": 3, "Rsqrt": 4, "Exp": 5, "Log": 6, "Sin": 7, "Cos": 8,
	"Tanh": 9, "Erf": 10, "Sigmoid": 11, "Silu": 12,
}

var binaryCodes = map[string]int32{"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Pow": 4, "Max": 5, "Min": 6, "SwiGLU": 7}

// roundMode is the kernels' output rounding for a value of dtype dt.
func roundMode(dt graph.DType) int32 {
	switch dt {
	case graph.BF16:
		return 1
	case graph.F16:
		return 2
	}
	return 0
}

func dtSuffix(dt graph.DType) (string, error) {
	switch dt {
	case graph.F32:
		return "f32", nil
	case graph.BF16:
		return "bf16", nil
	case graph.F16:
		return "f16", nil
	}
	return "", unsupportedf("weight dtype %s", dt)
}

func normAxis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

func (pr *planner) in(n *graph.Node, i int) (*pval, error) {
	name := n.Input(i)
	v := pr.vals[name]
	if v == nil {
		return nil, fmt.Errorf("input %d (%q) has no value", i, name)
	}
	return v, nil
}

func (pr *planner) node(idx int, n *graph.Node) error {
	switch n.Op {
	case "Identity", "Dropout", "Reshape", "Squeeze", "Unsqueeze":
		x, err := pr.in(n, 0)
		if err != nil {
			return err
		}
		pr.alias(n.Outputs[0], x)
		return nil
	case "Constant":
		t := pr.types[n.Outputs[0]]
		v := &pval{name: n.Outputs[0], dt: t.DType, isInt: !t.DType.IsFloat(), shape: ints(t.Shape)}
		v.buf = Buf{Region: RegionWeight, Index: pr.p.slot["constant:"+n.Name]}
		pr.vals[v.name] = v
		return nil
	case "Cast":
		return pr.cast(n)
	case "Neg", "Abs", "Sqrt", "Rsqrt", "Exp", "Log", "Sin", "Cos", "Tanh", "Erf", "Sigmoid", "Silu", "Gelu":
		x, err := pr.in(n, 0)
		if err != nil {
			return err
		}
		code := unaryCodes[n.Op]
		if n.Op == "Gelu" {
			code = 13
			if n.Str("approximate") == "tanh" {
				code = 14
			}
		}
		return pr.unary(n.Outputs[0], x, code, false)
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "SwiGLU":
		return pr.binary(n)
	case "ReduceMean", "ReduceSum", "ReduceMax":
		x, err := pr.in(n, 0)
		if err != nil {
			return err
		}
		axes := n.IntList("axes")
		if len(axes) != 1 || normAxis(axes[0], len(x.shape)) != len(x.shape)-1 {
			return unsupportedf("reduction over axes %v (only the last axis)", axes)
		}
		y := pr.output(n.Outputs[0])
		cols := x.shape[len(x.shape)-1]
		var d Dispatch
		d.Kernel = "gp_reduce_last"
		d.Params.N[0], d.Params.N[1] = int32(y.elems()), int32(cols)
		d.Params.N[2] = map[string]int32{"ReduceMean": 0, "ReduceSum": 1, "ReduceMax": 2}[n.Op]
		pr.emit(d, y.elems(), rowThreads(cols), []*pval{y}, []*pval{x}, pr.ref(y), pr.ref(x))
		return nil
	case "Softmax":
		x, err := pr.in(n, 0)
		if err != nil {
			return err
		}
		if normAxis(n.Int("axis"), len(x.shape)) != len(x.shape)-1 {
			return unsupportedf("softmax over axis %d (only the last axis)", n.Int("axis"))
		}
		y := pr.output(n.Outputs[0])
		cols := x.shape[len(x.shape)-1]
		var d Dispatch
		d.Kernel = "gp_softmax_last"
		d.Params.N[0], d.Params.N[1] = int32(x.elems()/cols), int32(cols)
		pr.emit(d, x.elems()/cols, rowThreads(cols), []*pval{y}, []*pval{x}, pr.ref(y), pr.ref(x))
		return nil
	case "RMSNorm", "LayerNorm":
		return pr.norm(n)
	case "RoPE":
		return pr.rope(n)
	case "Gather":
		return pr.gather(n)
	case "QuantizedGather":
		return pr.qgather(n)
	case "MatMul", "QuantizedMatMul":
		if g := pr.groups[idx]; g != nil {
			return pr.emitMV(g)
		}
		return pr.matmul(idx, n)
	case "Transpose":
		return pr.transpose(n)
	case "Concat":
		return pr.concat(n)
	case "Slice":
		return pr.slice(n)
	case "SDPA", "KVCacheAttention":
		return pr.attention(idx, n)
	}
	return unsupportedf("op %s", n.Op)
}

// rowThreads sizes a one-threadgroup-per-row kernel: about four elements
// per thread, 32 to 1024 threads.
func rowThreads(cols int) int {
	t := (cols/4 + 31) / 32 * 32
	if t < 32 {
		t = 32
	}
	if t > 1024 {
		t = 1024
	}
	return t
}

func (pr *planner) unary(out string, x *pval, code int32, outInt bool) error {
	y := pr.output(out)
	var d Dispatch
	d.Kernel = "gp_unary"
	d.Params.N[0] = int32(y.elems())
	d.Params.N[1] = code
	if x.isInt {
		d.Params.N[2] = 1
	}
	d.Params.N[3] = roundMode(y.dt)
	if outInt {
		d.Params.N[3] = 3
	}
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{x}, pr.ref(y), pr.ref(x))
	return nil
}

func (pr *planner) cast(n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	to := pr.types[n.Outputs[0]].DType
	switch {
	case x.isInt && !to.IsFloat(), !x.isInt && (to == graph.F32 || to == graph.F64):
		// i64/i32 are both i32 on the device; f32 storage holds every float.
		pr.alias(n.Outputs[0], x)
		return nil
	case !x.isInt && x.dt == to:
		pr.alias(n.Outputs[0], x)
		return nil
	case !to.IsFloat():
		return pr.unary(n.Outputs[0], x, 0, true)
	}
	return pr.unary(n.Outputs[0], x, 0, false)
}

// broadcastStrides returns x's element strides aligned to an output of
// rank 6 (leading dims padded), 0 where x is broadcast.
func broadcastStrides(shape, out []int) [6]int32 {
	var st [6]int32
	stride := 1
	for i := 1; i <= len(shape); i++ {
		d := shape[len(shape)-i]
		if d != 1 || out[len(out)-i] == 1 {
			st[6-i] = int32(stride)
		}
		stride *= d
	}
	return st
}

func pad6(shape []int) [6]int32 {
	s := [6]int32{1, 1, 1, 1, 1, 1}
	for i := 1; i <= len(shape); i++ {
		s[6-i] = int32(shape[len(shape)-i])
	}
	return s
}

func (pr *planner) binary(n *graph.Node) error {
	a, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	b, err := pr.in(n, 1)
	if err != nil {
		return err
	}
	if a.isInt || b.isInt {
		return unsupportedf("%s of integer tensors", n.Op)
	}
	if a.rowStride != 0 || b.rowStride != 0 {
		return unsupportedf("%s of attention_mask", n.Op)
	}
	y := pr.output(n.Outputs[0])
	if len(y.shape) > 6 {
		return unsupportedf("rank %d", len(y.shape))
	}
	var d Dispatch
	d.Kernel = "gp_binary"
	sh := pad6(y.shape)
	as, bs := broadcastStrides(a.shape, y.shape), broadcastStrides(b.shape, y.shape)
	copy(d.Params.N[0:6], sh[:])
	copy(d.Params.N[6:12], as[:])
	copy(d.Params.N[12:18], bs[:])
	d.Params.N[18] = binaryCodes[n.Op]
	d.Params.N[19] = int32(y.elems())
	d.Params.N[20] = roundMode(y.dt)
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{a, b}, pr.ref(y), pr.ref(a), pr.ref(b))
	return nil
}

func (pr *planner) norm(n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	w, err := pr.in(n, 1)
	if err != nil {
		return err
	}
	cols := x.shape[len(x.shape)-1]
	rows := x.elems() / cols
	y := pr.output(n.Outputs[0])
	var d Dispatch
	d.Params.N[0], d.Params.N[1] = int32(rows), int32(cols)
	d.Params.F[0] = float32(n.Float("eps"))
	if n.Op == "RMSNorm" {
		d.Kernel = "gp_rmsnorm"
		pr.emit(d, rows, rowThreads(cols), []*pval{y}, []*pval{x, w}, pr.ref(y), pr.ref(x), pr.ref(w))
		return nil
	}
	d.Kernel = "gp_layernorm"
	bias := dummy
	ins := []*pval{x, w}
	if n.Input(2) != "" {
		b, err := pr.in(n, 2)
		if err != nil {
			return err
		}
		bias = pr.ref(b)
		ins = append(ins, b)
		d.Params.N[2] = 1
	}
	pr.emit(d, rows, rowThreads(cols), []*pval{y}, ins, pr.ref(y), pr.ref(x), pr.ref(w), bias)
	return nil
}

func (pr *planner) rope(n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	pos, err := pr.in(n, 1)
	if err != nil {
		return err
	}
	if !pos.isInt || len(pos.shape) != 2 {
		return fmt.Errorf("positions %s must be integer [B,S]", pos.name)
	}
	y := pr.output(n.Outputs[0])
	dims := n.Int("dims")
	freqs := Buf{Region: RegionWeight, Index: pr.p.slot[ropeKey(dims, n.Float("base"))]}
	ins := []*pval{x, pos}
	if n.Input(2) != "" {
		f, err := pr.in(n, 2)
		if err != nil {
			return err
		}
		freqs = pr.ref(f)
		ins = append(ins, f)
	}
	var d Dispatch
	d.Kernel = "gp_rope"
	for i := 0; i < 4; i++ {
		d.Params.N[i] = int32(x.shape[i])
	}
	d.Params.N[4] = int32(dims)
	d.Params.N[5] = int32(n.Int("traditional"))
	d.Params.F[0] = float32(n.Float("scale"))
	pr.emit(d, ceilDiv(x.elems(), elemThreads), elemThreads, []*pval{y}, ins, pr.ref(y), pr.ref(x), pr.ref(pos), freqs)
	return nil
}

func (pr *planner) gather(n *graph.Node) error {
	data, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	idx, err := pr.in(n, 1)
	if err != nil {
		return err
	}
	if n.Int("axis") != 0 || len(data.shape) != 2 {
		return unsupportedf("Gather other than rows of a rank-2 table (axis %d, data rank %d)", n.Int("axis"), len(data.shape))
	}
	wb, err := pr.native(data)
	if err != nil {
		return err
	}
	sfx, err := dtSuffix(data.dt)
	if err != nil {
		return err
	}
	y := pr.output(n.Outputs[0])
	var d Dispatch
	d.Kernel = "gp_gather_" + sfx
	d.Params.N[0], d.Params.N[1] = int32(idx.elems()), int32(data.shape[1])
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{idx}, pr.ref(y), wb, pr.ref(idx))
	return nil
}

func (pr *planner) qgather(n *graph.Node) error {
	var bufs [3]Buf
	var sdt graph.DType
	for i := 0; i < 3; i++ {
		v, err := pr.in(n, i)
		if err != nil {
			return err
		}
		if bufs[i], err = pr.native(v); err != nil {
			return err
		}
		if i == 1 {
			sdt = v.dt
		}
	}
	w, _ := pr.in(n, 0)
	idx, err := pr.in(n, 3)
	if err != nil {
		return err
	}
	sfx, err := dtSuffix(sdt)
	if err != nil {
		return err
	}
	bits := n.Int("bits")
	k := w.shape[1] * 32 / int(bits)
	y := pr.output(n.Outputs[0])
	var d Dispatch
	d.Kernel = "gp_qgather_" + sfx
	d.Params.N[0], d.Params.N[1] = int32(idx.elems()), int32(k)
	d.Params.N[2], d.Params.N[3] = int32(bits), int32(n.Int("group_size"))
	d.Params.N[4] = roundMode(y.dt)
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{idx}, pr.ref(y), bufs[0], bufs[1], bufs[2], pr.ref(idx))
	return nil
}

func (pr *planner) transpose(n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	perm := n.IntList("perm")
	// Moving only size-1 axes keeps the bytes in place (decode's [B,1,H,D]).
	last := -1
	trivial := true
	for _, p := range perm {
		if x.shape[p] == 1 {
			continue
		}
		if int(p) < last {
			trivial = false
			break
		}
		last = int(p)
	}
	if trivial {
		pr.alias(n.Outputs[0], x)
		return nil
	}
	if len(perm) > 6 {
		return unsupportedf("transpose of rank %d", len(perm))
	}
	strides := contiguousStrides(x.shape)
	y := pr.output(n.Outputs[0])
	var d Dispatch
	d.Kernel = "gp_permute"
	sh := pad6(y.shape)
	copy(d.Params.N[0:6], sh[:])
	off := 6 - len(perm)
	for i, p := range perm {
		d.Params.N[6+off+i] = int32(strides[p])
	}
	d.Params.N[12] = int32(y.elems())
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{x}, pr.ref(y), pr.ref(x))
	return nil
}

func contiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = st
		st *= shape[i]
	}
	return s
}

func (pr *planner) concat(n *graph.Node) error {
	y := pr.output(n.Outputs[0])
	ax := normAxis(n.Int("axis"), len(y.shape))
	outer, inner := 1, 1
	for i, d := range y.shape {
		if i < ax {
			outer *= d
		} else if i > ax {
			inner *= d
		}
	}
	off := 0
	for i := range n.Inputs {
		x, err := pr.in(n, i)
		if err != nil {
			return err
		}
		if x.rowStride != 0 {
			return unsupportedf("Concat of attention_mask")
		}
		cols := x.shape[ax] * inner
		if cols == 0 {
			continue
		}
		var d Dispatch
		d.Kernel = "gp_copy2d"
		d.Params.N[0], d.Params.N[1] = int32(outer), int32(cols)
		d.Params.N[2], d.Params.N[3] = int32(y.shape[ax]*inner), int32(off)
		d.Params.N[4], d.Params.N[5] = int32(cols), 0
		pr.emit(d, ceilDiv(outer*cols, elemThreads), elemThreads, []*pval{y}, []*pval{x}, pr.ref(y), pr.ref(x))
		off += cols
	}
	return nil
}

func (pr *planner) slice(n *graph.Node) error {
	x, err := pr.in(n, 0)
	if err != nil {
		return err
	}
	if x.rowStride != 0 || len(x.shape) > 6 {
		return unsupportedf("Slice of %s", x.name)
	}
	y := pr.output(n.Outputs[0])
	strides := contiguousStrides(x.shape)
	src := make([]int, len(x.shape))
	copy(src, strides)
	base := 0
	axes, starts, ends, steps := n.IntList("axes"), n.IntList("starts"), n.IntList("ends"), n.IntList("steps")
	for i, a := range axes {
		ax := normAxis(a, len(x.shape))
		lo, _ := graph.ClampSlice(int64(x.shape[ax]), starts[i], ends[i])
		step := 1
		if len(steps) > 0 {
			step = int(steps[i])
		}
		base += int(lo) * strides[ax]
		src[ax] = strides[ax] * step
	}
	if y.elems() == 0 {
		return nil
	}
	var d Dispatch
	d.Kernel = "gp_permute"
	sh := pad6(y.shape)
	copy(d.Params.N[0:6], sh[:])
	off := 6 - len(y.shape)
	for i := range y.shape {
		d.Params.N[6+off+i] = int32(src[i])
	}
	d.Params.N[12] = int32(y.elems())
	xb := pr.ref(x)
	xb.Offset += int64(base) * 4
	pr.emit(d, ceilDiv(y.elems(), elemThreads), elemThreads, []*pval{y}, []*pval{x}, pr.ref(y), xb)
	return nil
}
