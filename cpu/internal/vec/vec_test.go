package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// randHalf returns random bf16 or f16 words of moderate magnitude.
func randHalf(r *rand.Rand, n int, bf bool) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		f := r.Float32()*4 - 2
		bits := math.Float32bits(f)
		if bf {
			v[i] = uint16(bits >> 16)
		} else {
			v[i] = uint16(bits>>16)&0x8000 | uint16(15+int(math.Floor(math.Log2(math.Abs(float64(f))+1e-3))))<<10&0x7c00 | uint16(r.IntN(1024))
		}
	}
	return v
}

func near(a, b float32, scale float64) bool {
	return math.Abs(float64(a-b)) <= 1e-5*math.Max(scale, 1)
}

// TestKernelsAgreeWithGo checks the dispatched kernels (assembly where
// available) against the portable loops, at lengths with every tail and at
// unaligned offsets.
func TestKernelsAgreeWithGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 63, 64, 100, 1027} {
		for _, off := range []int{0, 1, 3} {
			x := randF32(r, n+off)[off:]
			w := randF32(r, n+off)[off:]
			hb := randHalf(r, n+off, true)[off:]
			hh := randHalf(r, n+off, false)[off:]
			scale := float64(n)
			if got, want := DotF32(x, w), dotF32Go(x, w); !near(got, want, scale) {
				t.Fatalf("DotF32 n=%d: %g vs %g", n, got, want)
			}
			if got, want := DotBF16(x, hb), dotBF16Go(x, hb); !near(got, want, scale) {
				t.Fatalf("DotBF16 n=%d: %g vs %g", n, got, want)
			}
			if got, want := DotF16(x, hh), dotF16Go(x, hh); !near(got, want, 4*scale) {
				t.Fatalf("DotF16 n=%d: %g vs %g", n, got, want)
			}
			var o4 [4]float32
			w1, w2, w3 := randF32(r, n), randF32(r, n), randF32(r, n)
			Dot4F32(x, w, w1, w2, w3, &o4)
			for j, wj := range [][]float32{w, w1, w2, w3} {
				if want := dotF32Go(x, wj); !near(o4[j], want, scale) {
					t.Fatalf("Dot4F32 n=%d row %d: %g vs %g", n, j, o4[j], want)
				}
			}
			if got, want := Sum(x), sumGo(x); !near(got, want, scale) {
				t.Fatalf("Sum n=%d: %g vs %g", n, got, want)
			}
			if got, want := Sum4(x, w1, w2, w3), sum4Go(x, w1, w2, w3); !near(got, want, 4*scale) {
				t.Fatalf("Sum4 n=%d: %g vs %g", n, got, want)
			}
			var o12 [12]float32
			x1, x2 := randF32(r, n), randF32(r, n)
			Dot3x4F32(x, x1, x2, w, w1, w2, w3, &o12)
			for i, xi := range [][]float32{x, x1, x2} {
				for j, wj := range [][]float32{w, w1, w2, w3} {
					if want := dotF32Go(xi, wj); !near(o12[4*i+j], want, scale) {
						t.Fatalf("Dot3x4F32 n=%d [%d,%d]: %g vs %g", n, i, j, o12[4*i+j], want)
					}
				}
			}
			for _, c := range []struct {
				name string
				fast func(y []float32)
				slow func(y []float32)
			}{
				{"AxpyF32", func(y []float32) { AxpyF32(y, 0.7, w) }, func(y []float32) { axpyF32Go(y, 0.7, w) }},
				{"AxpyBF16", func(y []float32) { AxpyBF16(y, -1.3, hb) }, func(y []float32) { axpyBF16Go(y, -1.3, hb) }},
				{"AxpyF16", func(y []float32) { AxpyF16(y, 0.3, hh) }, func(y []float32) { axpyF16Go(y, 0.3, hh) }},
				{"BF16ToF32", func(y []float32) { BF16ToF32(y, hb) }, func(y []float32) { bf16ToF32Go(y, hb) }},
				{"F16ToF32", func(y []float32) { F16ToF32(y, hh) }, func(y []float32) { f16ToF32Go(y, hh) }},
			} {
				a, b := append([]float32(nil), x...), append([]float32(nil), x...)
				c.fast(a)
				c.slow(b)
				for i := range a {
					if !near(a[i], b[i], 1) {
						t.Fatalf("%s n=%d [%d]: %g vs %g", c.name, n, i, a[i], b[i])
					}
				}
			}
		}
	}
}

func TestF16Widen(t *testing.T) {
	// The portable f16 widening against the hardware one (all 65536 values).
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	a, b := make([]float32, len(src)), make([]float32, len(src))
	F16ToF32(a, src)
	f16ToF32Go(b, src)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			t.Fatalf("f16 %#04x: %g vs %g", i, a[i], b[i])
		}
	}
}

func TestExpFamily(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 5, 8, 29, 1000} {
		x := make([]float32, n)
		u := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 20)
			u[i] = r.Float32()
		}
		if n > 3 {
			x[0], x[1], x[2] = -3.4e38, 100, -100
		}
		y := make([]float32, n)
		k := ExpPrefix(y, x)
		for i := 0; i < k; i++ {
			want := math.Exp(float64(x[i]))
			if x[i] < -87.3 {
				if y[i] != 0 {
					t.Fatalf("exp(%g) = %g, want 0", x[i], y[i])
				}
				continue
			}
			if want > math.MaxFloat32 || math.Abs(float64(y[i])-want) > 3e-7*want {
				if !(x[i] > 87.3 && y[i] > 1e37) {
					t.Fatalf("exp(%g) = %g, want %g", x[i], y[i], want)
				}
			}
		}
		k = SiluPrefix(y, x)
		for i := 0; i < k; i++ {
			v := float64(x[i])
			want := v / (1 + math.Exp(-v))
			if math.Abs(float64(y[i])-want) > 3e-7*math.Max(math.Abs(want), 1e-30) && math.Abs(float64(y[i])-want) > 1e-35 {
				t.Fatalf("silu(%g) = %g, want %g", x[i], y[i], want)
			}
		}
		k = SwiGLUPrefix(y, x, u)
		for i := 0; i < k; i++ {
			v := float64(x[i])
			want := v / (1 + math.Exp(-v)) * float64(u[i])
			if math.Abs(float64(y[i])-want) > 4e-7*math.Max(math.Abs(want), 1e-30) && math.Abs(float64(y[i])-want) > 1e-35 {
				t.Fatalf("swiglu(%g, %g) = %g, want %g", x[i], u[i], y[i], want)
			}
		}
	}
}
