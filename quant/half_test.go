package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// nearestF16 is a float64 reference for round-to-nearest-even into f16.
func nearestF16(f float32) uint16 {
	x := float64(f)
	best, bestErr := uint16(0), math.Inf(1)
	// candidates: the two f16 values around x, found by scanning by magnitude
	for h := 0; h < 0x7c00; h++ {
		v := float64(f16ToF32(uint16(h)))
		if math.Signbit(x) {
			v = -v
		}
		e := math.Abs(v - x)
		if e < bestErr || (e == bestErr && h&1 == 0) {
			best, bestErr = uint16(h), e
		}
	}
	// beyond the largest finite half by half an ulp or more: infinity
	if math.Abs(x) >= 65520 {
		best = 0x7c00
	}
	if math.Signbit(x) {
		best |= 0x8000
	}
	return best
}

func TestF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		if f != f { // NaN
			if back := f32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %04x → %04x", h, back)
			}
			continue
		}
		if back := f32ToF16(f); back != uint16(h) {
			t.Fatalf("f16 %04x → %g → %04x", h, f, back)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	vals := []float32{65504, 65519.99, 65520, 1e-8, 2.9802322e-08, 2.9802326e-08, 5.96e-8, 6.1e-5, 1e-7}
	for i := 0; i < 300; i++ {
		vals = append(vals, float32(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(12)-8))))
	}
	// exact midpoints between neighbouring halves
	for _, h := range []uint16{0x0001, 0x0002, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bfe} {
		a, b := float64(f16ToF32(h)), float64(f16ToF32(h+1))
		vals = append(vals, float32((a+b)/2))
	}
	for _, v := range vals {
		if got, want := f32ToF16(v), nearestF16(v); got != want {
			t.Errorf("f32ToF16(%g) = %04x, want %04x", v, got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	for _, tc := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80},
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, // overflow to inf
		{0xbf808000, 0xbf80},
	} {
		if got := f32ToBF16(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("f32ToBF16(%08x) = %04x, want %04x", tc.in, got, tc.want)
		}
	}
	if h := f32ToBF16(float32(math.NaN())); h&0x7f80 != 0x7f80 || h&0x7f == 0 {
		t.Errorf("NaN → %04x", h)
	}
	for h := 0; h < 1<<16; h++ {
		f := bf16ToF32(uint16(h))
		if f == f && f32ToBF16(f) != uint16(h) {
			t.Fatalf("bf16 %04x does not round trip", h)
		}
	}
}
