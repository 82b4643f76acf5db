package cpu

import (
	"fmt"
	"math"
	"sort"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["ReduceMean"] = buildReduce
	builders["ReduceSum"] = buildReduce
	builders["ReduceMax"] = buildReduce
	builders["Softmax"] = buildSoftmax
}

// sumF32 is the f32 summation every reduction shares (ReduceSum/Mean,
// softmax, the norms), so a fused op adds in the same order as the
// primitives it replaces: eight interleaved partial sums, combined pairwise.
func sumF32(v []float32) float32 {
	var a [8]float32
	i := 0
	for ; i+8 <= len(v); i += 8 {
		a[0] += v[i]
		a[1] += v[i+1]
		a[2] += v[i+2]
		a[3] += v[i+3]
		a[4] += v[i+4]
		a[5] += v[i+5]
		a[6] += v[i+6]
		a[7] += v[i+7]
	}
	for j := 0; i < len(v); i, j = i+1, j+1 {
		a[j] += v[i]
	}
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

// sumSqF32 is sumF32 of the squares (each square rounded to f32 first, as
// Pow(x, 2) then ReduceSum computes it); vec.SumSqF32 keeps that order.
func sumSqF32(v []float32) float32 { return vec.SumSqF32(v) }

func maxF32(v []float32) float32 {
	m := float32(math.Inf(-1))
	for _, x := range v {
		if x > m || x != x {
			m = x
			if x != x {
				return x
			}
		}
	}
	return m
}

// normAxes resolves negative axes and sorts them; empty means every axis.
func normAxes(axes []int64, rank int) ([]int, error) {
	if len(axes) == 0 {
		all := make([]int, rank)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, a := range axes {
		ax := int(a)
		if ax < 0 {
			ax += rank
		}
		if ax < 0 || ax >= rank {
			return nil, fmt.Errorf("axis %d out of range for rank %d", a, rank)
		}
		if !seen[ax] {
			seen[ax] = true
			out = append(out, ax)
		}
	}
	sort.Ints(out)
	return out, nil
}

func buildReduce(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axesAttr := n.IntList("axes")
	keep := n.Int("keepdims") != 0
	op := n.Op
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		axes, err := normAxes(axesAttr, x.Rank())
		if err != nil {
			return nil, err
		}
		red := make([]bool, x.Rank())
		for _, a := range axes {
			red[a] = true
		}
		var outShape, kept, perm []int
		for i, d := range x.Shape {
			if !red[i] {
				kept = append(kept, d)
				perm = append(perm, i)
				outShape = append(outShape, d)
			} else if keep {
				outShape = append(outShape, 1)
			}
		}
		perm = append(perm, axes...)
		// Move the reduced axes last (a copy only when they are not already).
		src := x
		moved := false
		for i, p := range perm {
			if p != i {
				moved = true
				break
			}
		}
		if moved {
			src = e.transpose(x, perm)
		}
		rows := tensor.NumElements(kept)
		r := 1
		for _, a := range axes {
			r *= x.Shape[a]
		}
		var out *tensor.Tensor
		switch {
		case x.DType == graph.F64:
			out = e.alloc(graph.F64, outShape...)
			v, o := src.F64(), out.F64()
			for i := 0; i < rows; i++ {
				o[i] = reduceF64(op, v[i*r:(i+1)*r])
			}
		case x.DType.IsFloat():
			sf, tmp := e.asF32(src)
			o := e.alloc(graph.F32, outShape...)
			v, ov := sf.F32(), o.F32()
			e.parallel(rows, 1+4096/max(r, 1), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					ov[i] = reduceF32(op, v[i*r:(i+1)*r])
				}
			})
			if tmp {
				e.free(sf)
			}
			out = e.toDType(o, x.DType)
		default:
			out = e.alloc(x.DType, outShape...)
			for i := 0; i < rows; i++ {
				var acc int64
				if op == "ReduceMax" {
					acc = math.MinInt64
				}
				for j := 0; j < r; j++ {
					v := src.Int64At(i*r + j)
					if op == "ReduceMax" {
						acc = max(acc, v)
					} else {
						acc += v
					}
				}
				if op == "ReduceMean" && r > 0 {
					acc /= int64(r)
				}
				out.SetFloat64(i, float64(acc))
			}
		}
		if moved {
			e.free(src)
		}
		return out, nil
	}, nil
}

func reduceF32(op string, v []float32) float32 {
	switch op {
	case "ReduceMax":
		return maxF32(v)
	case "ReduceSum":
		return sumF32(v)
	}
	return sumF32(v) / float32(len(v))
}

func reduceF64(op string, v []float64) float64 {
	var acc float64
	if op == "ReduceMax" {
		acc = math.Inf(-1)
	}
	for _, x := range v {
		if op == "ReduceMax" {
			if x > acc || x != x {
				acc = x
			}
		} else {
			acc += x
		}
	}
	if op == "ReduceMean" {
		acc /= float64(len(v))
	}
	return acc
}

func buildSoftmax(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	axisAttr := n.Int("axis")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		ax := int(axisAttr)
		if ax < 0 {
			ax += x.Rank()
		}
		if ax < 0 || ax >= x.Rank() {
			return nil, fmt.Errorf("axis %d out of range for rank %d", axisAttr, x.Rank())
		}
		if x.DType == graph.F64 {
			return e.softmaxF64(x, ax), nil
		}
		xf, tmp := e.asF32(x)
		out := e.alloc(graph.F32, x.Shape...)
		n := x.Shape[ax]
		inner := 1
		for _, d := range x.Shape[ax+1:] {
			inner *= d
		}
		outer := x.Len() / max(n*inner, 1)
		if n*inner == 0 {
			outer = 0
		}
		xv, ov := xf.F32(), out.F32()
		if inner == 1 {
			e.parallel(outer, 1+2048/max(n, 1), func(lo, hi int) {
				for r := lo; r < hi; r++ {
					softmaxRow(ov[r*n:(r+1)*n], xv[r*n:(r+1)*n])
				}
			})
		} else {
			row := make([]float32, n)
			res := make([]float32, n)
			for o := 0; o < outer; o++ {
				for i := 0; i < inner; i++ {
					base := o*n*inner + i
					for j := 0; j < n; j++ {
						row[j] = xv[base+j*inner]
					}
					softmaxRow(res, row)
					for j := 0; j < n; j++ {
						ov[base+j*inner] = res[j]
					}
				}
			}
		}
		if tmp {
			e.free(xf)
		}
		return e.toDType(out, x.DType), nil
	}, nil
}

// softmaxRow is the f32 softmax of the Softmax op:
// exp(x - max) / sum(exp(x - max)). Attention computes the same steps
// (attention.softmax).
func softmaxRow(dst, x []float32) {
	if len(x) == 0 {
		return
	}
	m := maxF32(x)
	copy(dst, x)
	expNormalize(dst, m)
}

// expNormalize turns l into exp(l - m) / sum(exp(l - m)) in place: the
// steps after the maximum m that every softmax here shares.
func expNormalize(l []float32, m float32) {
	vec.SubF32(l, m)
	for j := vec.ExpPrefix(l, l); j < len(l); j++ {
		l[j] = expf(l[j])
	}
	vec.DivF32(l, sumF32(l))
}

func (e *exec) softmaxF64(x *tensor.Tensor, ax int) *tensor.Tensor {
	out := e.alloc(graph.F64, x.Shape...)
	n := x.Shape[ax]
	inner := 1
	for _, d := range x.Shape[ax+1:] {
		inner *= d
	}
	xv, ov := x.F64(), out.F64()
	if n*inner == 0 {
		return out
	}
	for o := 0; o < x.Len()/(n*inner); o++ {
		for i := 0; i < inner; i++ {
			base := o*n*inner + i
			m := math.Inf(-1)
			for j := 0; j < n; j++ {
				m = math.Max(m, xv[base+j*inner])
			}
			var s float64
			for j := 0; j < n; j++ {
				v := math.Exp(xv[base+j*inner] - m)
				ov[base+j*inner] = v
				s += v
			}
			for j := 0; j < n; j++ {
				ov[base+j*inner] /= s
			}
		}
	}
	return out
}
