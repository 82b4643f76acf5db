//go:build amd64

package quant

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// The AVX-512 encoder of the vnni kernels' x must equal the portable
// definition (fixed, digits) byte for byte, ties and extremes included.
func TestDigits512MatchesGo(t *testing.T) {
	if !hasVNNI {
		t.Skip("no AVX-512 VNNI on this machine")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 200; trial++ {
		x := make([]float32, 64)
		for i := range x {
			switch rng.IntN(6) {
			case 0:
				x[i] = 0
			case 1: // ties once scaled: k + 1/2 steps
				x[i] = (float32(rng.IntN(2000)-1000) + 0.5) / 1024
			case 2:
				x[i] = math.Float32frombits(rng.Uint32N(0x00800000)) // subnormal
			default:
				x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(8)-4)))
			}
		}
		var amax uint32
		for _, f := range x {
			amax = max(amax, math.Float32bits(f)&0x7fffffff)
		}
		if got := absMaxBits512(&x[0], len(x)); got != amax {
			t.Fatalf("trial %d: absMaxBits512 = %#x, want %#x", trial, got, amax)
		}
		e := max(int(amax>>23)-126, -100)
		inv := math.Float32frombits(uint32(fixedBits-e+127) << 23)
		for _, stride := range []int{32, 64} {
			got := make([]int8, 6*stride)
			want := make([]int8, 6*stride)
			digits64x512(&got[0], stride, &x[0], inv)
			for k := 0; k < 32; k++ {
				e0, e1, e2 := digits(fixed(x[2*k], inv))
				o0, o1, o2 := digits(fixed(x[2*k+1], inv))
				for p, d := range []int8{e0, o0, e1, o1, e2, o2} {
					want[p*stride+k] = d
				}
			}
			for i := range got {
				if i%stride < 32 && got[i] != want[i] {
					t.Fatalf("trial %d, stride %d: byte %d (plane %d, code %d) = %d, want %d", trial, stride, i, i/stride, i%stride, got[i], want[i])
				}
			}
		}
	}
}

// prep2AVX2, the two-row scale pass, widens the scales exactly as
// prepAVX2 does, and gives each row's bias term the same bits whether the
// row is one of a pair or the odd last row alone: results must not depend
// on how rows were split over threads.
func TestPrep2MatchesPrep(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 on this machine")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, dt := range []graph.DType{graph.BF16, graph.F16, graph.F32} {
		for _, groups := range []int{8, 16, 24} {
			for _, rows := range []int{1, 2, 3, 7} {
				m := randomMatrix(rows, groups*32, Params{Bits: 4, GroupSize: 32}, dt)
				xsum, step := make([]float32, groups), make([]float32, groups)
				for j := range xsum {
					xsum[j] = float32(rng.NormFloat64() * 10)
					step[j] = float32(math.Ldexp(1, rng.IntN(20)-30))
				}
				s1, s2 := make([]float32, rows*groups), make([]float32, rows*groups)
				b1, b2 := make([]float32, rows), make([]float32, rows)
				kind := scaleKind(dt)
				prepAVX2(&s1[0], &b1[0], &m.Scales[0], &m.Biases[0], &xsum[0], rows, groups, kind, &step[0])
				prep2AVX2(&s2[0], &b2[0], &m.Scales[0], &m.Biases[0], &xsum[0], rows, groups, kind, &step[0])
				for i := range s1 {
					if math.Float32bits(s1[i]) != math.Float32bits(s2[i]) {
						t.Fatalf("%s groups %d rows %d: scale %d = %g, prepAVX2 %g", dt, groups, rows, i, s2[i], s1[i])
					}
				}
				es := dt.Size()
				for r := range b1 {
					var ref float64
					for j := 0; j < groups; j++ {
						ref += float64(m.Bias(r, j)) * float64(xsum[j])
					}
					if d := math.Abs(float64(b2[r]) - ref); d > 1e-5*(math.Abs(ref)+1) {
						t.Fatalf("%s groups %d rows %d: bias term %d = %g, want %g", dt, groups, rows, r, b2[r], ref)
					}
					// The same row alone.
					var one [1]float32
					sb := make([]float32, groups)
					prep2AVX2(&sb[0], &one[0], &m.Scales[r*groups*es], &m.Biases[r*groups*es], &xsum[0], 1, groups, kind, &step[0])
					if math.Float32bits(one[0]) != math.Float32bits(b2[r]) {
						t.Fatalf("%s groups %d rows %d: row %d's bias term %g alone, %g in its pair", dt, groups, rows, r, one[0], b2[r])
					}
				}
			}
		}
	}
}
