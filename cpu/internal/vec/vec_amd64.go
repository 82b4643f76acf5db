//go:build !purego

package vec

import "golang.org/x/sys/cpu"

//go:noescape
func dotF32AVX2(x, w *float32, n int) float32

//go:noescape
func dotBF16AVX2(x *float32, w *uint16, n int) float32

//go:noescape
func dotF16AVX2(x *float32, w *uint16, n int) float32

//go:noescape
func axpyF32AVX2(y *float32, a float32, x *float32, n int)

//go:noescape
func axpyBF16AVX2(y *float32, a float32, x *uint16, n int)

//go:noescape
func axpyF16AVX2(y *float32, a float32, x *uint16, n int)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func f16ToF32AVX2(dst *float32, src *uint16, n int)

//go:noescape
func dot3x4F32AVX2(x0, x1, x2, w0, w1, w2, w3 *float32, n int, out *[12]float32)

//go:noescape
func expAVX2(dst, src *float32, n int)

//go:noescape
func siluAVX2(dst, src *float32, n int)

//go:noescape
func swigluAVX2(dst, gate, up *float32, n int)

//go:noescape
func sumAVX2(x *float32, n int) float32

//go:noescape
func sum4AVX2(a, b, c, d *float32, n int) float32

//go:noescape
func dot4F32AVX2(x, w0, w1, w2, w3 *float32, n int, out *[4]float32)

var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// HasAsm reports whether the AVX2/FMA/F16C kernels are in use.
func HasAsm() bool { return hasAVX2 }

var (
	dotF32    = dotF32Go
	dotBF16   = dotBF16Go
	dotF16    = dotF16Go
	axpyF32   = axpyF32Go
	axpyBF16  = axpyBF16Go
	axpyF16   = axpyF16Go
	bf16ToF32 = bf16ToF32Go
	f16ToF32  = f16ToF32Go
	dot4F32   = dot4F32Go
	sum       = sumGo
	sum4      = sum4Go
	dot3x4F32 = dot3x4F32Go
	expTail   = expTailGo
	siluTail  = siluTailGo
	swiTail   = swigluTailGo
)

func init() {
	if !hasAVX2 {
		return
	}
	dotF32 = func(x, w []float32) float32 {
		n := len(x) &^ 7
		var s float32
		if n > 0 {
			s = dotF32AVX2(&x[0], &w[:n][0], n)
		}
		for i := n; i < len(x); i++ {
			s += x[i] * w[i]
		}
		return s
	}
	dotBF16 = func(x []float32, w []uint16) float32 {
		n := len(x) &^ 7
		var s float32
		if n > 0 {
			s = dotBF16AVX2(&x[0], &w[:n][0], n)
		}
		for i := n; i < len(x); i++ {
			s += x[i] * bf16(w[i])
		}
		return s
	}
	dotF16 = func(x []float32, w []uint16) float32 {
		n := len(x) &^ 7
		var s float32
		if n > 0 {
			s = dotF16AVX2(&x[0], &w[:n][0], n)
		}
		for i := n; i < len(x); i++ {
			s += x[i] * f16(w[i])
		}
		return s
	}
	axpyF32 = func(y []float32, a float32, x []float32) {
		n := len(y) &^ 7
		if n > 0 {
			axpyF32AVX2(&y[0], a, &x[:n][0], n)
		}
		for i := n; i < len(y); i++ {
			y[i] += a * x[i]
		}
	}
	axpyBF16 = func(y []float32, a float32, x []uint16) {
		n := len(y) &^ 7
		if n > 0 {
			axpyBF16AVX2(&y[0], a, &x[:n][0], n)
		}
		for i := n; i < len(y); i++ {
			y[i] += a * bf16(x[i])
		}
	}
	axpyF16 = func(y []float32, a float32, x []uint16) {
		n := len(y) &^ 7
		if n > 0 {
			axpyF16AVX2(&y[0], a, &x[:n][0], n)
		}
		for i := n; i < len(y); i++ {
			y[i] += a * f16(x[i])
		}
	}
	bf16ToF32 = func(dst []float32, src []uint16) {
		n := len(dst) &^ 7
		if n > 0 {
			bf16ToF32AVX2(&dst[0], &src[:n][0], n)
		}
		for i := n; i < len(dst); i++ {
			dst[i] = bf16(src[i])
		}
	}
	f16ToF32 = func(dst []float32, src []uint16) {
		n := len(dst) &^ 7
		if n > 0 {
			f16ToF32AVX2(&dst[0], &src[:n][0], n)
		}
		for i := n; i < len(dst); i++ {
			dst[i] = f16(src[i])
		}
	}
	dot3x4F32 = func(x0, x1, x2, w0, w1, w2, w3 []float32, out *[12]float32) {
		n := len(x0) &^ 7
		if n > 0 {
			dot3x4F32AVX2(&x0[0], &x1[:n][0], &x2[:n][0], &w0[:n][0], &w1[:n][0], &w2[:n][0], &w3[:n][0], n, out)
		} else {
			*out = [12]float32{}
		}
		xs := [3][]float32{x0, x1, x2}
		ws := [4][]float32{w0, w1, w2, w3}
		for k := n; k < len(x0); k++ {
			for i := 0; i < 3; i++ {
				for j := 0; j < 4; j++ {
					out[4*i+j] += xs[i][k] * ws[j][k]
				}
			}
		}
	}
	expTail = func(dst, src []float32) int {
		n := len(dst) &^ 7
		if n > 0 {
			expAVX2(&dst[0], &src[:n][0], n)
		}
		return n
	}
	siluTail = func(dst, src []float32) int {
		n := len(dst) &^ 7
		if n > 0 {
			siluAVX2(&dst[0], &src[:n][0], n)
		}
		return n
	}
	swiTail = func(dst, g, u []float32) int {
		n := len(dst) &^ 7
		if n > 0 {
			swigluAVX2(&dst[0], &g[:n][0], &u[:n][0], n)
		}
		return n
	}
	sum = func(x []float32) float32 {
		n := len(x) &^ 31
		var s float32
		if n > 0 {
			s = sumAVX2(&x[0], n)
		}
		for _, v := range x[n:] {
			s += v
		}
		return s
	}
	sum4 = func(a, b, c, d []float32) float32 {
		n := len(a) &^ 15
		var s float32
		if n > 0 {
			s = sum4AVX2(&a[0], &b[:n][0], &c[:n][0], &d[:n][0], n)
		}
		return s + sum4Go(a[n:], b[n:], c[n:], d[n:])
	}
	dot4F32 = func(x, w0, w1, w2, w3 []float32, out *[4]float32) {
		n := len(x) &^ 7
		if n > 0 {
			dot4F32AVX2(&x[0], &w0[:n][0], &w1[:n][0], &w2[:n][0], &w3[:n][0], n, out)
		} else {
			*out = [4]float32{}
		}
		for i := n; i < len(x); i++ {
			out[0] += x[i] * w0[i]
			out[1] += x[i] * w1[i]
			out[2] += x[i] * w2[i]
			out[3] += x[i] * w3[i]
		}
	}
}
