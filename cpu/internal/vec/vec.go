// Package vec holds the CPU runtime's inner loops: dot products, axpy and
// format conversions over f32 activations and f32/bf16/f16 weights. Each
// function has a portable Go version; on amd64 with AVX2 and FMA the
// exported functions dispatch to assembly (chosen once at start-up).
//
// Results may differ between the two paths in the last bits (the
// summation order differs); both accumulate in f32.
package vec

import "github.com/graphpass/graphpass/tensor"

// The scalar widenings are tensor's (one definition of each format);
// these wrappers keep the call sites short and inline.
func bf16(h uint16) float32 { return tensor.BF16ToF32(h) }
func f16(h uint16) float32  { return tensor.F16ToF32(h) }

func dotF32Go(x, w []float32) float32 {
	w = w[:len(x)]
	var a [8]float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		a[0] += x[i] * w[i]
		a[1] += x[i+1] * w[i+1]
		a[2] += x[i+2] * w[i+2]
		a[3] += x[i+3] * w[i+3]
		a[4] += x[i+4] * w[i+4]
		a[5] += x[i+5] * w[i+5]
		a[6] += x[i+6] * w[i+6]
		a[7] += x[i+7] * w[i+7]
	}
	for ; i < len(x); i++ {
		a[0] += x[i] * w[i]
	}
	return foldLanes(&a)
}

func dotBF16Go(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var a [8]float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		a[0] += x[i] * bf16(w[i])
		a[1] += x[i+1] * bf16(w[i+1])
		a[2] += x[i+2] * bf16(w[i+2])
		a[3] += x[i+3] * bf16(w[i+3])
		a[4] += x[i+4] * bf16(w[i+4])
		a[5] += x[i+5] * bf16(w[i+5])
		a[6] += x[i+6] * bf16(w[i+6])
		a[7] += x[i+7] * bf16(w[i+7])
	}
	for ; i < len(x); i++ {
		a[0] += x[i] * bf16(w[i])
	}
	return foldLanes(&a)
}

func dotF16Go(x []float32, w []uint16) float32 {
	w = w[:len(x)]
	var a [4]float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a[0] += x[i] * f16(w[i])
		a[1] += x[i+1] * f16(w[i+1])
		a[2] += x[i+2] * f16(w[i+2])
		a[3] += x[i+3] * f16(w[i+3])
	}
	for ; i < len(x); i++ {
		a[0] += x[i] * f16(w[i])
	}
	return (a[0] + a[2]) + (a[1] + a[3])
}

func axpyF32Go(y []float32, alpha float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * x[i]
	}
}

func axpyBF16Go(y []float32, alpha float32, x []uint16) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * bf16(x[i])
	}
}

func axpyF16Go(y []float32, alpha float32, x []uint16) {
	x = x[:len(y)]
	for i := range y {
		y[i] += alpha * f16(x[i])
	}
}

func bf16ToF32Go(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = bf16(src[i])
	}
}

func f16ToF32Go(dst []float32, src []uint16) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = f16(src[i])
	}
}

// dot4F32Go computes the dots of x with four rows.
func dot4F32Go(x, w0, w1, w2, w3 []float32, out *[4]float32) {
	out[0] = dotF32Go(x, w0)
	out[1] = dotF32Go(x, w1)
	out[2] = dotF32Go(x, w2)
	out[3] = dotF32Go(x, w3)
}

func sum4Go(a, b, c, d []float32) float32 { return sumGo(a) + sumGo(b) + sumGo(c) + sumGo(d) }

func sumGo(x []float32) float32 {
	var a [8]float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		a[0] += x[i]
		a[1] += x[i+1]
		a[2] += x[i+2]
		a[3] += x[i+3]
		a[4] += x[i+4]
		a[5] += x[i+5]
		a[6] += x[i+6]
		a[7] += x[i+7]
	}
	for ; i < len(x); i++ {
		a[0] += x[i]
	}
	return foldLanes(&a)
}

func dot3x4F32Go(x0, x1, x2, w0, w1, w2, w3 []float32, out *[12]float32) {
	for i, x := range [3][]float32{x0, x1, x2} {
		for j, w := range [4][]float32{w0, w1, w2, w3} {
			out[4*i+j] = dotF32Go(x, w)
		}
	}
}

// foldLanes adds eight accumulator lanes in the order every reduction here
// fixes: ((0+4)+(1+5))+((2+6)+(3+7)).
func foldLanes(a *[8]float32) float32 {
	return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}
