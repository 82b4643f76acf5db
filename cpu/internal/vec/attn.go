package vec

import "math"

// Attention kernels: the scores of one or two queries against a run of
// keys, and the softmax-weighted sum of value rows. Keys and values are
// rows of a matrix with a row stride (a KV cache head), read once per call
// however many queries share them; the weighted sum keeps its output in
// registers across rows instead of updating it once per row.

// DotRowsF32 sets out[j] = Σ_c x[c]·rows[j·stride+c] for j < len(out) and
// c < len(x).
func DotRowsF32(out, x, rows []float32, stride int) {
	checkRows(rows, len(out), stride, len(x))
	dotRows(out, x, rows, stride)
}

// DotRows2F32 is DotRowsF32 for two vectors of the same length at once:
// out0 gets the dots with x0 and out1 (as long as out0) those with x1.
func DotRows2F32(out0, out1, x0, x1, rows []float32, stride int) {
	checkRows(rows, len(out0), stride, len(x0))
	_, _ = out1[:len(out0)], x1[:len(x0)]
	dotRows2(out0, out1, x0, x1, rows, stride)
}

// WeightedRowSumF32 sets out[c] = Σ_j w[j]·rows[j·stride+c] for c < len(out)
// and j < len(w), summing over j in order.
func WeightedRowSumF32(out, w, rows []float32, stride int) {
	checkRows(rows, len(w), stride, len(out))
	weightedRowSum(out, w, rows, stride)
}

// WeightedRowSum2F32 is WeightedRowSumF32 for two weight vectors of the same
// length at once: out0 gets the sum weighted by w0, out1 (as long as out0)
// the one weighted by w1.
func WeightedRowSum2F32(out0, out1, w0, w1, rows []float32, stride int) {
	checkRows(rows, len(w0), stride, len(out0))
	_, _ = out1[:len(out0)], w1[:len(w0)]
	weightedRowSum2(out0, out1, w0, w1, rows, stride)
}

// ScaleMaxF32 sets x[i] = x[i]·scale, plus bias[i] when bias is not nil
// (the product rounded first), and returns the largest result: NaN if any
// is NaN, −Inf for an empty x.
func ScaleMaxF32(x []float32, scale float32, bias []float32) float32 {
	if bias != nil {
		bias = bias[:len(x)]
	}
	return scaleMax(x, scale, bias)
}

// SubF32 does x[i] -= c.
func SubF32(x []float32, c float32) { subScalar(x, c) }

// DivF32 does x[i] /= c (a correctly rounded division, not a product with
// 1/c).
func DivF32(x []float32, c float32) { divScalar(x, c) }

// checkRows panics unless rows holds n rows of width at the given stride,
// as indexing would, before assembly reads them.
func checkRows(rows []float32, n, stride, width int) {
	if n > 0 && width > 0 {
		if stride < 0 {
			panic("vec: negative row stride")
		}
		_ = rows[(n-1)*stride+width-1]
	}
}

func dotRowsGo(out, x, rows []float32, stride int) {
	for j := range out {
		out[j] = dotF32Go(x, rows[j*stride:j*stride+len(x)])
	}
}

func dotRows2Go(out0, out1, x0, x1, rows []float32, stride int) {
	dotRowsGo(out0, x0, rows, stride)
	dotRowsGo(out1[:len(out0)], x1, rows, stride)
}

func weightedRowSumGo(out, w, rows []float32, stride int) {
	clear(out)
	for j, wj := range w {
		axpyF32Go(out, wj, rows[j*stride:j*stride+len(out)])
	}
}

func weightedRowSum2Go(out0, out1, w0, w1, rows []float32, stride int) {
	weightedRowSumGo(out0, w0, rows, stride)
	weightedRowSumGo(out1[:len(out0)], w1[:len(w0)], rows, stride)
}

func scaleMaxGo(x []float32, scale float32, bias []float32) float32 {
	m, nan := float32(math.Inf(-1)), false
	for i, v := range x {
		v = float32(v * scale)
		if bias != nil {
			v += bias[i]
		}
		x[i] = v
		if v > m {
			m = v
		}
		nan = nan || v != v
	}
	if nan {
		return float32(math.NaN())
	}
	return m
}

func subScalarGo(x []float32, c float32) {
	for i := range x {
		x[i] -= c
	}
}

func divScalarGo(x []float32, c float32) {
	for i := range x {
		x[i] /= c
	}
}
