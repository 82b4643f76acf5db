//go:build !purego

package vec

import (
	"math"
	"unsafe"
)

//go:noescape
func dotRowsAVX2(out, x, rows *float32, stride, n, d int)

//go:noescape
func dotRows2AVX2(out0, out1, x0, x1, rows *float32, stride, n, d int)

//go:noescape
func weightedRowSumAVX2(out, w *float32, n int, rows *float32, stride, d int)

//go:noescape
func weightedRowSum2AVX2(out0, out1, w0, w1 *float32, n int, rows *float32, stride, d int)

//go:noescape
func scaleMaxAVX2(x, bias *float32, n int, scale float32) float32

//go:noescape
func subAVX2(x *float32, n int, c float32)

//go:noescape
func divAVX2(x *float32, n int, c float32)

var (
	dotRows         = dotRowsGo
	dotRows2        = dotRows2Go
	weightedRowSum  = weightedRowSumGo
	weightedRowSum2 = weightedRowSum2Go
	scaleMax        = scaleMaxGo
	subScalar       = subScalarGo
	divScalar       = divScalarGo
)

// The kernels take rows in blocks of four and columns in multiples of 8;
// the wrappers do the rest. Callers have checked the bounds.
func init() {
	if !hasAVX2 {
		return
	}
	dotRows = func(out, x, rows []float32, stride int) {
		n, d := len(out)&^3, len(x)&^7
		if d == 0 {
			n = 0
		}
		if n > 0 {
			dotRowsAVX2(&out[0], &x[0], &rows[0], stride, n, d)
			for j := 0; j < n && d < len(x); j++ {
				out[j] += dotF32Go(x[d:], rows[j*stride+d:])
			}
		}
		for j := n; j < len(out); j++ {
			out[j] = dotF32(x, rows[j*stride:])
		}
	}
	dotRows2 = func(out0, out1, x0, x1, rows []float32, stride int) {
		n, d := len(out0)&^3, len(x0)&^7
		if d == 0 {
			n = 0
		}
		if n > 0 {
			dotRows2AVX2(&out0[0], &out1[0], &x0[0], &x1[0], &rows[0], stride, n, d)
			for j := 0; j < n && d < len(x0); j++ {
				out0[j] += dotF32Go(x0[d:], rows[j*stride+d:])
				out1[j] += dotF32Go(x1[d:len(x0)], rows[j*stride+d:])
			}
		}
		for j := n; j < len(out0); j++ {
			out0[j] = dotF32(x0, rows[j*stride:])
			out1[j] = dotF32(x1[:len(x0)], rows[j*stride:])
		}
	}
	weightedRowSum = func(out, w, rows []float32, stride int) {
		if len(w) == 0 {
			clear(out)
			return
		}
		d := len(out) &^ 7
		if d > 0 {
			weightedRowSumAVX2(&out[0], &w[0], len(w), &rows[0], stride, d)
		}
		for c := d; c < len(out); c++ {
			var s float32
			for j, wj := range w {
				s += wj * rows[j*stride+c]
			}
			out[c] = s
		}
	}
	weightedRowSum2 = func(out0, out1, w0, w1, rows []float32, stride int) {
		if len(w0) == 0 {
			clear(out0)
			clear(out1[:len(out0)])
			return
		}
		d := len(out0) &^ 7
		if d > 0 {
			weightedRowSum2AVX2(&out0[0], &out1[0], &w0[0], &w1[0], len(w0), &rows[0], stride, d)
		}
		for c := d; c < len(out0); c++ {
			var s0, s1 float32
			for j, w0j := range w0 {
				r := rows[j*stride+c]
				s0 += w0j * r
				s1 += w1[j] * r
			}
			out0[c], out1[c] = s0, s1
		}
	}
	scaleMax = func(x []float32, scale float32, bias []float32) float32 {
		n := len(x) &^ 7
		m := float32(math.Inf(-1))
		if n > 0 {
			var b *float32
			if bias != nil {
				b = &bias[0]
			}
			m = scaleMaxAVX2(&x[0], b, n, scale)
		}
		if n < len(x) {
			var tail []float32
			if bias != nil {
				tail = bias[n:]
			}
			m = max(m, scaleMaxGo(x[n:], scale, tail))
		}
		return m
	}
	subScalar = func(x []float32, c float32) {
		n := len(x) &^ 7
		if n > 0 {
			subAVX2(&x[0], n, c)
		}
		subScalarGo(x[n:], c)
	}
	divScalar = func(x []float32, c float32) {
		n := len(x) &^ 7
		if n > 0 {
			divAVX2(&x[0], n, c)
		}
		divScalarGo(x[n:], c)
	}
}

//go:noescape
func prefetchL2(p *byte, n int)

// Prefetch asks for b into the L2 cache: a hint for data a kernel will
// stream soon (it reads nothing and never faults).
func Prefetch(b []byte) {
	if len(b) > 0 {
		prefetchL2(&b[0], len(b))
	}
}

// PrefetchF32 is Prefetch of x's bytes.
func PrefetchF32(x []float32) {
	if len(x) > 0 {
		prefetchL2((*byte)(unsafe.Pointer(&x[0])), 4*len(x))
	}
}
