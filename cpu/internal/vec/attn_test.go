package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttnKernels checks the row kernels, dispatched and portable, against
// float64 sums at every tail of the row blocks (4) and column blocks (8, 32,
// 64), with padded row strides and stale output to overwrite.
func TestAttnKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 13, 16, 17, 33, 160} {
		for _, d := range []int{0, 1, 7, 8, 13, 16, 24, 40, 64, 72, 80, 96, 128, 136} {
			for _, pad := range []int{0, 5} {
				stride := d + pad
				rows := randF32(r, max(n*stride, 1))
				x0, x1 := randF32(r, d), randF32(r, d)
				w0, w1 := randF32(r, n), randF32(r, n)
				name := fmt.Sprintf("n=%d d=%d stride=%d", n, d, stride)

				wantDot := func(x []float32) (want, bound []float64) {
					for j := 0; j < n; j++ {
						var s, a float64
						for c := 0; c < d; c++ {
							p := float64(x[c]) * float64(rows[j*stride+c])
							s, a = s+p, a+math.Abs(p)
						}
						want, bound = append(want, s), append(bound, a)
					}
					return
				}
				wantSum := func(w []float32) (want, bound []float64) {
					for c := 0; c < d; c++ {
						var s, a float64
						for j := 0; j < n; j++ {
							p := float64(w[j]) * float64(rows[j*stride+c])
							s, a = s+p, a+math.Abs(p)
						}
						want, bound = append(want, s), append(bound, a)
					}
					return
				}
				d0, b0 := wantDot(x0)
				d1, b1 := wantDot(x1)
				s0, c0 := wantSum(w0)
				s1, c1 := wantSum(w1)

				for _, impl := range []struct {
					name  string
					dot   func(out, x, rows []float32, stride int)
					dot2  func(out0, out1, x0, x1, rows []float32, stride int)
					wsum  func(out, w, rows []float32, stride int)
					wsum2 func(out0, out1, w0, w1, rows []float32, stride int)
				}{
					{"dispatched", DotRowsF32, DotRows2F32, WeightedRowSumF32, WeightedRowSum2F32},
					{"go", dotRowsGo, dotRows2Go, weightedRowSumGo, weightedRowSum2Go},
				} {
					o0, o1 := stale(n), stale(n)
					impl.dot(o0, x0, rows, stride)
					expect(t, impl.name+" DotRowsF32 "+name, o0, d0, b0)
					o0 = stale(n)
					impl.dot2(o0, o1, x0, x1, rows, stride)
					expect(t, impl.name+" DotRows2F32 out0 "+name, o0, d0, b0)
					expect(t, impl.name+" DotRows2F32 out1 "+name, o1, d1, b1)
					o0, o1 = stale(d), stale(d)
					impl.wsum(o0, w0, rows, stride)
					expect(t, impl.name+" WeightedRowSumF32 "+name, o0, s0, c0)
					o0 = stale(d)
					impl.wsum2(o0, o1, w0, w1, rows, stride)
					expect(t, impl.name+" WeightedRowSum2F32 out0 "+name, o0, s0, c0)
					expect(t, impl.name+" WeightedRowSum2F32 out1 "+name, o1, s1, c1)
				}
			}
		}
	}
}

// stale returns NaNs: a kernel that fails to overwrite its output shows.
func stale(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// expect allows f32 rounding of each partial sum: a few ulps of Σ|terms|.
func expect(t *testing.T, what string, got []float32, want, bound []float64) {
	t.Helper()
	for i := range want {
		if e := math.Abs(float64(got[i]) - want[i]); !(e <= 1e-6*(bound[i]+1)) {
			t.Fatalf("%s [%d]: %g, want %g (error %g)", what, i, got[i], want[i], e)
		}
	}
}

// TestAttnKernelsBounds checks that short row storage panics in Go, before
// any assembly reads past it.
func TestAttnKernelsBounds(t *testing.T) {
	rows := make([]float32, 3*16+7) // 3 rows of 16 at stride 16, then 7
	for _, c := range []struct {
		name string
		call func()
	}{
		{"DotRowsF32", func() { DotRowsF32(make([]float32, 4), make([]float32, 8), rows, 16) }},
		{"DotRows2F32", func() {
			DotRows2F32(make([]float32, 4), make([]float32, 4), make([]float32, 8), make([]float32, 8), rows, 16)
		}},
		{"DotRows2F32 short out1", func() {
			DotRows2F32(make([]float32, 3), make([]float32, 2), make([]float32, 8), make([]float32, 8), rows, 16)
		}},
		{"WeightedRowSumF32", func() { WeightedRowSumF32(make([]float32, 8), make([]float32, 4), rows, 16) }},
		{"WeightedRowSum2F32 short w1", func() {
			WeightedRowSum2F32(make([]float32, 8), make([]float32, 8), make([]float32, 3), make([]float32, 2), rows, 16)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.call()
		}()
	}
}

// TestSoftmaxSteps checks ScaleMaxF32, SubF32 and DivF32 against the
// portable loops: the same roundings, so the same bits.
func TestSoftmaxSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 16, 23, 160, 513} {
		x := randF32(r, n)
		for i := range x {
			x[i] *= 30
		}
		bias := randF32(r, n)
		for i := range bias {
			if bias[i] < 0 {
				bias[i] = -3.4028235e38 // graph.MaskValue
			} else {
				bias[i] = 0
			}
		}
		if n > 5 {
			x[n-1] = 1e3 // the maximum in the scalar tail
		}
		for _, b := range [][]float32{nil, bias} {
			got, want := append([]float32(nil), x...), append([]float32(nil), x...)
			mg, mw := ScaleMaxF32(got, 0.125, b), scaleMaxGo(want, 0.125, b)
			if math.Float32bits(mg) != math.Float32bits(mw) || (n == 0 && !math.IsInf(float64(mg), -1)) {
				t.Fatalf("ScaleMaxF32 n=%d bias=%v: max %g, want %g", n, b != nil, mg, mw)
			}
			same(t, fmt.Sprintf("ScaleMaxF32 n=%d bias=%v", n, b != nil), got, want)
			for _, at := range []int{0, n / 2, n - 1} { // a NaN anywhere is the maximum
				if n == 0 {
					break
				}
				y := append([]float32(nil), x...)
				y[at] = float32(math.NaN())
				if m := ScaleMaxF32(y, 0.125, b); m == m {
					t.Fatalf("ScaleMaxF32 n=%d with NaN at %d: max %g", n, at, m)
				}
			}
			SubF32(got, mg)
			subScalarGo(want, mw)
			same(t, fmt.Sprintf("SubF32 n=%d", n), got, want)
			DivF32(got, 3.7)
			divScalarGo(want, 3.7)
			same(t, fmt.Sprintf("DivF32 n=%d", n), got, want)
		}
	}
}

func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s [%d]: %g, want %g", what, i, got[i], want[i])
		}
	}
}
