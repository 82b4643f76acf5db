package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The norm and rotation kernels promise the Go versions' bits exactly (the
// fused RMSNorm and RoPE nodes must equal their primitive forms), at every
// length's tail and at unaligned offsets.
func TestNormKernelsBitExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 1024, 1027} {
		for _, off := range []int{0, 1, 3} {
			buf := func(scale float32) []float32 {
				v := randF32(r, n+off)[off:]
				for i := range v {
					v[i] *= scale
				}
				return v
			}
			x, w := buf(30), buf(2)
			if got, want := SumSqF32(x), sumSqGo(x); !same(got, want) {
				t.Fatalf("SumSqF32 n=%d off=%d: %g, want %g", n, off, got, want)
			}
			got, want := make([]float32, n), make([]float32, n)
			rs := float32(0.0123457)
			ScaleMulF32(got, x, w, rs)
			scaleMulGo(want, x, w, rs)
			for i := range got {
				if !same(got[i], want[i]) {
					t.Fatalf("ScaleMulF32 n=%d off=%d [%d]: %g, want %g", n, off, i, got[i], want[i])
				}
			}
			x2, c, s := buf(30), buf(1), buf(1)
			g1, g2, w1, w2 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			RotateF32(g1, g2, x, x2, c, s)
			rotateGo(w1, w2, x, x2, c, s)
			for i := range g1 {
				if !same(g1[i], w1[i]) || !same(g2[i], w2[i]) {
					t.Fatalf("RotateF32 n=%d off=%d [%d]: %g %g, want %g %g", n, off, i, g1[i], g2[i], w1[i], w2[i])
				}
			}
		}
	}
}

// The rounding each kernel promises: products rounded before the sum, so
// a fused multiply-add would be caught. With e = 1+2⁻¹², e² = 1+2⁻¹¹+2⁻²⁴
// rounds (to even) to 1+2⁻¹¹: added to 2⁻²⁴ it stays 1+2⁻¹¹, where an FMA
// would keep 1+2⁻¹¹+2⁻²³. In the rotation, e·e − (1+2⁻¹¹) is 0 rounded
// and 2⁻²⁴ fused.
func TestNormKernelsRoundProducts(t *testing.T) {
	e := float32(1) + 1.0/4096
	v := make([]float32, 16)
	for i := range v {
		v[i] = e
		if i < 8 {
			v[i] = 1.0 / 4096 // squares to 2⁻²⁴ in each lane first
		}
	}
	if got, want := SumSqF32(v), float32(8+1.0/256); got != want || sumSqGo(v) != want {
		t.Fatalf("SumSqF32 = %v (Go %v), want %v (products rounded)", got, sumSqGo(v), want)
	}
	x1, x2 := make([]float32, 8), make([]float32, 8)
	c, s := make([]float32, 8), make([]float32, 8)
	for i := range x1 {
		x1[i], c[i], x2[i], s[i] = e, e, 1+1.0/2048, 1
	}
	y1, y2 := make([]float32, 8), make([]float32, 8)
	RotateF32(y1, y2, x1, x2, c, s)
	for i := range y1 {
		if y1[i] != 0 { // rounded: (1+2⁻¹¹) − (1+2⁻¹¹); fused: 2⁻²⁴
			t.Fatalf("RotateF32 y1[%d] = %g, want 0 (products rounded)", i, y1[i])
		}
	}
}
