//go:build amd64

package quant

import (
	"math"
	"math/rand/v2"
	"testing"
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
