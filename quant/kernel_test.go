package quant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// refProduct is x·Wᵀ in float64 over the dequantized weights, and the
// magnitude Σ|x·w| each output's rounding error scales with.
func refProduct(m *Matrix, x []float32, batch int) (y, mag []float64) {
	w := m.Dequantize()
	y = make([]float64, batch*m.Rows)
	mag = make([]float64, batch*m.Rows)
	for b := 0; b < batch; b++ {
		for r := 0; r < m.Rows; r++ {
			var s, a float64
			for k := 0; k < m.Cols; k++ {
				p := float64(x[b*m.Cols+k]) * float64(w[r*m.Cols+k])
				s += p
				a += math.Abs(p)
			}
			y[b*m.Rows+r], mag[b*m.Rows+r] = s, a
		}
	}
	return y, mag
}

func randVec(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestKernels(t *testing.T) {
	t.Logf("vector kernel: %s", Kernel())
	for _, k := range []string{"", "avx2", "generic"} {
		forceKernel = k
		name := Kernel()
		forceKernel = ""
		if k != "" && name != k {
			continue // this machine lacks it, or it is the default
		}
		t.Run(name, func(t *testing.T) {
			forceKernel = k
			defer func() { forceKernel = "" }()
			testKernels(t)
		})
	}
}

func testKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, dt := range []graph.DType{graph.BF16, graph.F16, graph.F32} {
		for _, bits := range SupportedBits {
			for _, g := range SupportedGroupSizes {
				p := Params{bits, g}
				t.Run(fmt.Sprintf("%s/%d/%d", dt, bits, g), func(t *testing.T) {
					// odd and even counts of groups and of 64-code blocks, 16 groups of
					// 64 (one full step of prep16VNNI) among them;
					// 25·128 has the tens of groups per row of real models
					// (25 to 100), where the others have at most 20
					for _, cols := range []int{3 * 64, 3 * 128, 5 * 128, 1024, 25 * 128} {
						if cols%g != 0 {
							continue
						}
						rows := 37
						m, err := Quantize(randMatrix(rng, rows, cols, dt), rows, cols, p, dt)
						if err != nil {
							t.Fatal(err)
						}
						for _, batch := range []int{1, 2, 5} {
							x := randVec(rng, batch*cols)
							want, mag := refProduct(m, x, batch)
							got := make([]float32, batch*rows)
							// three row ranges, as a runtime would split the work
							for _, rr := range [][2]int{{0, 11}, {11, 12}, {12, rows}} {
								if batch == 1 {
									MatVecRows(got, x, m, rr[0], rr[1])
								} else {
									MatMulRows(got, x, batch, m, rr[0], rr[1])
								}
							}
							for i := range got {
								if e := math.Abs(float64(got[i]) - want[i]); e > 2e-6*mag[i]+1e-6 {
									t.Fatalf("cols %d, batch %d, out %d: got %g want %g (err %g, scale %g)", cols, batch, i, got[i], want[i], e, mag[i])
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestKernelExtremes drives every kernel at the edge of its integer
// range: every code at its largest value and every x just below a power of
// two, so the vnni kernels' fixed-point X reaches 2^22 in every lane. An
// int32 accumulator that wrapped would be off by 2^32 times the step.
func TestKernelExtremes(t *testing.T) {
	for _, k := range []string{"", "avx2", "generic"} {
		forceKernel = k
		name := Kernel()
		forceKernel = ""
		if k != "" && name != k {
			continue
		}
		for _, bits := range []int{4, 8} {
			for _, g := range SupportedGroupSizes {
				const rows, cols = 3, 5 * 128 // odd block and group counts
				p := Params{bits, g}
				m := allocMatrix(rows, cols, p, graph.F32)
				for i := range m.Words {
					m.Words[i] = math.MaxUint32
				}
				for i := 0; i < rows*m.Groups(); i++ {
					storeScalar(m.Scales, graph.F32, i, 1)
					storeScalar(m.Biases, graph.F32, i, 0)
				}
				for _, sign := range []float32{1, -1} {
					x := make([]float32, cols)
					for i := range x {
						x[i] = sign * math.Nextafter32(1, 0)
					}
					forceKernel = k
					got := make([]float32, rows)
					MatVecRows(got, x, m, 0, rows)
					forceKernel = ""
					want, mag := refProduct(m, x, 1)
					for r := range got {
						if e := math.Abs(float64(got[r]) - want[r]); e > 2e-6*mag[r] {
							t.Errorf("%s bits %d group %d sign %g row %d: got %g want %g", name, bits, g, sign, r, got[r], want[r])
						}
					}
				}
			}
		}
	}
}

func TestMatVecRangeOnly(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	m, _ := Quantize(randMatrix(rng, 16, 64, graph.BF16), 16, 64, Default, graph.BF16)
	dst := make([]float32, 16)
	for i := range dst {
		dst[i] = -42
	}
	MatVecRows(dst, randVec(rng, 64), m, 4, 9)
	for i, v := range dst {
		if inside := i >= 4 && i < 9; inside == (v == -42) {
			t.Errorf("dst[%d] = %g: rows outside [4, 9) must be untouched, inside written", i, v)
		}
	}
}

func TestGather(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	w := randMatrix(rng, 10, 128, graph.BF16)
	m, _ := Quantize(w, 10, 128, Params{5, 32}, graph.BF16)
	full := m.Dequantize()
	ids := []int64{3, 0, 9, 3}
	dst := make([]float32, len(ids)*128)
	if err := Gather(dst, m, ids); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		for k := 0; k < 128; k++ {
			if dst[i*128+k] != full[int(id)*128+k] {
				t.Fatalf("row %d (id %d) col %d differs", i, id, k)
			}
		}
	}
	if err := Gather(dst, m, []int64{1, 10}); err == nil || !contains1(err.Error(), "gather index 10 (position 1) out of range [0, 10)") {
		t.Errorf("out-of-range id: %v", err)
	}
	if err := Gather(dst, m, []int64{-1}); err == nil {
		t.Error("negative id accepted")
	}
}

func TestKernelMisusePanics(t *testing.T) {
	m, _ := Quantize(make([]float32, 4*64), 4, 64, Default, graph.F32)
	for name, f := range map[string]func(){
		"short x":   func() { MatVecRows(make([]float32, 4), make([]float32, 63), m, 0, 4) },
		"short dst": func() { MatVecRows(make([]float32, 3), make([]float32, 64), m, 0, 4) },
		"range":     func() { MatVecRows(make([]float32, 4), make([]float32, 64), m, 3, 5) },
		"batch dst": func() { MatMulRows(make([]float32, 7), make([]float32, 128), 2, m, 0, 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// A row's result must not depend on how the rows were split over calls
// (threads): alone, in a pair, first or last of a chunk, it gets the same
// bits.
func TestKernelsRowSplitInvariant(t *testing.T) {
	for _, k := range kernels() {
		forceKernel = k
		t.Run(Kernel(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(11, 12))
			for _, p := range []Params{{4, 64}, {4, 128}, {4, 32}, {8, 64}, {3, 64}} {
				for _, cols := range []int{384, 1024, 3200} {
					const rows = 70 // more than one 64-row chunk, odd tail
					m, err := Quantize(randMatrix(rng, rows, cols, graph.BF16), rows, cols, p, graph.BF16)
					if err != nil {
						t.Fatal(err)
					}
					x := randVec(rng, cols)
					whole := make([]float32, rows)
					MatVecRows(whole, x, m, 0, rows)
					for _, step := range []int{1, 3, 5} {
						part := make([]float32, rows)
						for r := 0; r < rows; r += step {
							MatVecRows(part, x, m, r, min(r+step, rows))
						}
						for r := range whole {
							if math.Float32bits(part[r]) != math.Float32bits(whole[r]) {
								t.Fatalf("%+v cols %d: row %d is %g in calls of %d rows, %g in one call", p, cols, r, part[r], step, whole[r])
							}
						}
					}
				}
			}
		})
	}
	forceKernel = ""
}
