package cpu

import (
	"fmt"
	"unsafe"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["Reshape"] = buildReshape
	builders["Transpose"] = buildTranspose
	builders["Unsqueeze"] = buildUnsqueeze
	builders["Squeeze"] = buildSqueeze
	builders["Slice"] = buildSlice
	builders["Concat"] = buildConcat
	builders["Gather"] = buildGather
	builders["RepeatInterleave"] = buildRepeatInterleave
	builders["Constant"] = buildConstant
}

func normAxis(a int64, rank int) (int, error) {
	ax := int(a)
	if ax < 0 {
		ax += rank
	}
	if ax < 0 || ax >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, rank)
	}
	return ax, nil
}

func buildReshape(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	target := n.IntList("shape")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		shape := make([]int, len(target))
		infer := -1
		known := 1
		for i, t := range target {
			switch {
			case t == 0:
				if i >= x.Rank() {
					return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d input", target, i, x.Rank())
				}
				shape[i] = x.Shape[i]
			case t == -1:
				infer = i
				continue
			default:
				shape[i] = int(t)
			}
			known *= shape[i]
		}
		if infer >= 0 {
			if known == 0 || x.Len()%known != 0 {
				return nil, fmt.Errorf("cannot reshape %v to %v", x.Shape, target)
			}
			shape[infer] = x.Len() / known
		}
		if tensor.NumElements(shape) != x.Len() {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x.Shape, x.Len(), shape)
		}
		return view(x, shape), nil
	}, nil
}

func buildUnsqueeze(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axes := n.IntList("axes")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		rank := x.Rank() + len(axes)
		ins := make([]bool, rank)
		for _, a := range axes {
			ax, err := normAxis(a, rank)
			if err != nil {
				return nil, err
			}
			ins[ax] = true
		}
		shape := make([]int, 0, rank)
		j := 0
		for i := 0; i < rank; i++ {
			if ins[i] {
				shape = append(shape, 1)
			} else {
				shape = append(shape, x.Shape[j])
				j++
			}
		}
		return view(x, shape), nil
	}, nil
}

func buildSqueeze(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axes := n.IntList("axes")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		drop := make([]bool, x.Rank())
		for _, a := range axes {
			ax, err := normAxis(a, x.Rank())
			if err != nil {
				return nil, err
			}
			if x.Shape[ax] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.Shape[ax])
			}
			drop[ax] = true
		}
		var shape []int
		for i, d := range x.Shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
		return view(x, shape), nil
	}, nil
}

// keepsOrder reports whether perm leaves the axes of shape longer than 1
// in their order, so that the permuted tensor has the same bytes.
func keepsOrder(shape, perm []int) bool {
	last := -1
	for _, p := range perm {
		if shape[p] == 1 {
			continue
		}
		if p < last {
			return false
		}
		last = p
	}
	return true
}

func buildTranspose(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	p := n.IntList("perm")
	perm := make([]int, len(p))
	for i, v := range p {
		perm[i] = int(v)
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		if len(perm) != in[0].Rank() {
			return nil, fmt.Errorf("perm %v for rank %d", perm, in[0].Rank())
		}
		return e.transpose(in[0], perm), nil
	}, nil
}

// transpose copies x with its axes permuted (y.shape[i] = x.shape[perm[i]]),
// moving whole contiguous runs when the innermost axes stay in place. A
// permutation that only moves axes of size 1 (decode's [B, 1, H, D] to
// [B, H, 1, D]) keeps the memory order, so it returns a view.
func (e *exec) transpose(x *tensor.Tensor, perm []int) *tensor.Tensor {
	rank := x.Rank()
	shape := make([]int, rank)
	for i, p := range perm {
		shape[i] = x.Shape[p]
	}
	if keepsOrder(x.Shape, perm) {
		return view(x, shape)
	}
	out := e.alloc(x.DType, shape...)
	if x.Len() == 0 {
		return out
	}
	es := x.DType.Size()
	xs := tensor.Strides(x.Shape)
	// Trailing axes left in place form one contiguous run.
	run := 1
	k := rank
	for k > 0 && perm[k-1] == k-1 {
		run *= x.Shape[k-1]
		k--
	}
	outer := shape[:k]
	strides := make([]int, k)
	for i := 0; i < k; i++ {
		strides[i] = xs[perm[i]]
	}
	src, dst := x.Bytes(), out.Bytes()
	if run == 1 && k > 0 && (es == 4 || es == 2 || es == 8) {
		// The innermost axis moves: gather each output row with a typed
		// strided loop (per-element copy calls would dominate).
		n := outer[k-1]
		stride := strides[k-1]
		rows := tensor.NumElements(outer[:k-1])
		e.parallel(rows, 1+4096/max(n, 1), func(lo, hi int) {
			idx := make([]int, k-1)
			for r := lo; r < hi; r++ {
				rr, off := r, 0
				for i := k - 2; i >= 0; i-- {
					idx[i] = rr % outer[i]
					rr /= outer[i]
					off += idx[i] * strides[i]
				}
				switch es {
				case 4:
					d := u32s(dst)[r*n : (r+1)*n]
					s := u32s(src)
					for j := range d {
						d[j] = s[off+j*stride]
					}
				case 2:
					d := u16s(dst)[r*n : (r+1)*n]
					s := u16s(src)
					for j := range d {
						d[j] = s[off+j*stride]
					}
				default:
					d := u64s(dst)[r*n : (r+1)*n]
					s := u64s(src)
					for j := range d {
						d[j] = s[off+j*stride]
					}
				}
			}
		})
		return out
	}
	runBytes := run * es
	nruns := tensor.NumElements(outer)
	e.parallel(nruns, 1+16384/max(runBytes, 1), func(lo, hi int) {
		idx := make([]int, k)
		// Position idx at run lo.
		r := lo
		for i := k - 1; i >= 0; i-- {
			idx[i] = r % outer[i]
			r /= outer[i]
		}
		off := 0
		for i := 0; i < k; i++ {
			off += idx[i] * strides[i]
		}
		for r := lo; r < hi; r++ {
			copy(dst[r*runBytes:(r+1)*runBytes], src[off*es:off*es+runBytes])
			for i := k - 1; i >= 0; i-- {
				idx[i]++
				off += strides[i]
				if idx[i] < outer[i] {
					break
				}
				off -= idx[i] * strides[i]
				idx[i] = 0
			}
		}
	})
	return out
}

func buildSlice(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axes, starts, ends, steps := n.IntList("axes"), n.IntList("starts"), n.IntList("ends"), n.IntList("steps")
	if len(starts) != len(axes) || len(ends) != len(axes) || (len(steps) != 0 && len(steps) != len(axes)) {
		return nil, fmt.Errorf("axes/starts/ends/steps lengths differ")
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		rank := x.Rank()
		lo := make([]int, rank)
		step := make([]int, rank)
		shape := append([]int(nil), x.Shape...)
		for i := range step {
			step[i] = 1
		}
		for i, a := range axes {
			ax, err := normAxis(a, rank)
			if err != nil {
				return nil, err
			}
			st := int64(1)
			if len(steps) > 0 {
				st = steps[i]
			}
			if st <= 0 {
				return nil, fmt.Errorf("step %d must be positive", st)
			}
			l, h := graph.ClampSlice(int64(x.Shape[ax]), starts[i], ends[i])
			lo[ax], step[ax] = int(l), int(st)
			if h <= l {
				shape[ax] = 0
			} else {
				shape[ax] = int((h - l + st - 1) / st)
			}
		}
		out := e.alloc(x.DType, shape...)
		if out.Len() == 0 {
			return out, nil
		}
		es := x.DType.Size()
		xs := tensor.Strides(x.Shape)
		// Innermost run: contiguous when the last axis has step 1.
		k := rank
		run := 1
		if rank > 0 && step[rank-1] == 1 {
			run = shape[rank-1]
			k = rank - 1
		}
		src, dst := x.Bytes(), out.Bytes()
		base := 0
		for i := 0; i < rank; i++ {
			base += lo[i] * xs[i]
		}
		idx := make([]int, k)
		off := base
		nruns := tensor.NumElements(shape[:k])
		for r := 0; r < nruns; r++ {
			copy(dst[r*run*es:(r+1)*run*es], src[off*es:(off+run)*es])
			for i := k - 1; i >= 0; i-- {
				idx[i]++
				off += step[i] * xs[i]
				if idx[i] < shape[i] {
					break
				}
				off -= idx[i] * step[i] * xs[i]
				idx[i] = 0
			}
		}
		return out, nil
	}, nil
}

func buildConcat(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axis := n.Int("axis")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		first := in[0]
		ax, err := normAxis(axis, first.Rank())
		if err != nil {
			return nil, err
		}
		shape := append([]int(nil), first.Shape...)
		shape[ax] = 0
		for _, t := range in {
			if t.DType != first.DType || t.Rank() != first.Rank() {
				return nil, fmt.Errorf("inputs %s%v and %s%v differ", first.DType, first.Shape, t.DType, t.Shape)
			}
			for i := range shape {
				if i != ax && t.Shape[i] != first.Shape[i] {
					return nil, fmt.Errorf("inputs %v and %v differ outside axis %d", first.Shape, t.Shape, ax)
				}
			}
			shape[ax] += t.Shape[ax]
		}
		out := e.alloc(first.DType, shape...)
		es := first.DType.Size()
		outer := tensor.NumElements(shape[:ax])
		inner := tensor.NumElements(shape[ax+1:]) * es
		dst := out.Bytes()
		rowOut := shape[ax] * inner
		off := 0
		for _, t := range in {
			w := t.Shape[ax] * inner
			src := t.Bytes()
			for o := 0; o < outer; o++ {
				copy(dst[o*rowOut+off:o*rowOut+off+w], src[o*w:(o+1)*w])
			}
			off += w
		}
		return out, nil
	}, nil
}

func buildGather(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axis := n.Int("axis")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		data, idx := in[0], in[1]
		ax, err := normAxis(axis, data.Rank())
		if err != nil {
			return nil, err
		}
		shape := append(append(append([]int(nil), data.Shape[:ax]...), idx.Shape...), data.Shape[ax+1:]...)
		out := e.alloc(data.DType, shape...)
		es := data.DType.Size()
		outer := tensor.NumElements(data.Shape[:ax])
		dim := data.Shape[ax]
		inner := tensor.NumElements(data.Shape[ax+1:]) * es
		ni := idx.Len()
		src, dst := data.Bytes(), out.Bytes()
		for o := 0; o < outer; o++ {
			for i := 0; i < ni; i++ {
				j := idx.Int64At(i)
				if j < 0 {
					j += int64(dim)
				}
				if j < 0 || j >= int64(dim) {
					return nil, fmt.Errorf("index %d out of range for axis %d of size %d", idx.Int64At(i), ax, dim)
				}
				d := (o*ni + i) * inner
				s := (o*dim + int(j)) * inner
				copy(dst[d:d+inner], src[s:s+inner])
			}
		}
		return out, nil
	}, nil
}

func buildRepeatInterleave(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	reps := int(n.Int("repeats"))
	axis := n.Int("axis")
	if reps < 1 {
		return nil, fmt.Errorf("repeats %d < 1", reps)
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		ax, err := normAxis(axis, x.Rank())
		if err != nil {
			return nil, err
		}
		if reps == 1 {
			return x, nil
		}
		shape := append([]int(nil), x.Shape...)
		shape[ax] *= reps
		out := e.alloc(x.DType, shape...)
		es := x.DType.Size()
		outer := tensor.NumElements(x.Shape[:ax])
		dim := x.Shape[ax]
		inner := tensor.NumElements(x.Shape[ax+1:]) * es
		src, dst := x.Bytes(), out.Bytes()
		d := 0
		for o := 0; o < outer; o++ {
			for i := 0; i < dim; i++ {
				s := (o*dim + i) * inner
				for r := 0; r < reps; r++ {
					copy(dst[d:d+inner], src[s:s+inner])
					d += inner
				}
			}
		}
		return out, nil
	}, nil
}

func buildConstant(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	dt, err := graph.ParseDType(n.Str("dtype"))
	if err != nil {
		return nil, err
	}
	var shape []int
	for _, d := range n.IntList("shape") {
		if d < 0 {
			return nil, fmt.Errorf("negative dim in shape %v", n.IntList("shape"))
		}
		shape = append(shape, int(d))
	}
	vals := n.Attrs["values"].Floats
	t := tensor.New(dt, shape...)
	if len(vals) != 1 && len(vals) != t.Len() {
		return nil, fmt.Errorf("%d values for shape %v", len(vals), shape)
	}
	for i := 0; i < t.Len(); i++ {
		if len(vals) == 1 {
			t.SetFloat64(i, vals[0])
		} else {
			t.SetFloat64(i, vals[i])
		}
	}
	// Built once; each run gets its own copy (the caller may keep and
	// modify an output).
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		out := e.alloc(t.DType, t.Shape...)
		copy(out.Bytes(), t.Bytes())
		return out, nil
	}, nil
}

// Typed views of arena bytes (8-byte aligned by construction, or tensors
// whose dtype size guarantees the alignment).
func u32s(b []byte) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
func u16s(b []byte) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
}
func u64s(b []byte) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}
