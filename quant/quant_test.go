package quant

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

func randMatrix(rng *rand.Rand, rows, cols int, dt graph.DType) []float32 {
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = roundTrip(float32(rng.NormFloat64()*0.05), dt)
	}
	return w
}

// TestRoundTrip quantizes random weights for every width × group × scale
// dtype and checks each element's error against the bound the algorithm
// implies, plus the relative RMS error per width.
func TestRoundTrip(t *testing.T) {
	// Relative RMS error bounds for N(0, σ²) weights: about
	// range/(2^bits-1)/sqrt(12) with range ≈ 4.5σ for 64 samples, plus margin
	// (at 8 bits bf16-rounded scales add about as much as the rounding).
	rmsBound := map[int]float64{2: 0.50, 3: 0.24, 4: 0.11, 5: 0.055, 6: 0.028, 8: 0.010}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dt := range []graph.DType{graph.F32, graph.BF16, graph.F16} {
		for _, bits := range SupportedBits {
			for _, g := range SupportedGroupSizes {
				p := Params{bits, g}
				t.Run(fmt.Sprintf("%s/%d/%d", dt, bits, g), func(t *testing.T) {
					rows, cols := 8, 2*128
					w := randMatrix(rng, rows, cols, dt)
					m, err := Quantize(w, rows, cols, p, dt)
					if err != nil {
						t.Fatal(err)
					}
					if err := m.Validate(); err != nil {
						t.Fatal(err)
					}
					d := m.Dequantize()
					var se, sw float64
					for i := range w {
						r, k := i/cols, i%cols
						// The code must pick the nearest point of the group's grid
						// {scale·q + bias}: compare with a brute-force search over
						// every level, allowing for scale and bias having been
						// rounded to dt after quantizing (one ulp of dt each).
						s, b := float64(m.Scale(r, k/g)), float64(m.Bias(r, k/g))
						best := math.Inf(1)
						for q := 0; q <= p.Levels(); q++ {
							best = min(best, math.Abs(float64(w[i])-(s*float64(q)+b)))
						}
						ulp := map[graph.DType]float64{graph.F32: 1e-7, graph.BF16: 1.0 / 256, graph.F16: 1.0 / 2048}[dt]
						q := float64(m.Codes(r)[k])
						bound := best + 2*ulp*(math.Abs(s)*q+math.Abs(b)) + 1e-7
						if e := math.Abs(float64(w[i] - d[i])); e > bound {
							t.Fatalf("[%d,%d]: w=%g dequant=%g err %g > nearest grid point %g (+ rounding)", r, k, w[i], d[i], e, best)
						}
						se += float64(w[i]-d[i]) * float64(w[i]-d[i])
						sw += float64(w[i]) * float64(w[i])
					}
					rel := math.Sqrt(se / sw)
					if rel > rmsBound[bits] {
						t.Errorf("relative RMS error %.4f > %.4f", rel, rmsBound[bits])
					}
					if dt == graph.BF16 && g == 64 {
						t.Logf("bits %d: relative RMS error %.4f", bits, rel)
					}
				})
			}
		}
	}
}

// TestQuantizeEdges covers the groups MLX's formulas special-case.
func TestQuantizeEdges(t *testing.T) {
	p := Params{4, 32}
	for _, tc := range []struct {
		name string
		fill func(i int) float32
	}{
		{"zeros", func(int) float32 { return 0 }},
		{"constant", func(int) float32 { return 0.25 }},
		{"negative constant", func(int) float32 { return -3 }},
		{"all negative", func(i int) float32 { return -1 - float32(i)/32 }},
		{"all positive", func(i int) float32 { return 1 + float32(i)/32 }},
		{"one spike", func(i int) float32 {
			if i == 7 {
				return 100
			}
			return 0
		}},
	} {
		w := make([]float32, 32)
		for i := range w {
			w[i] = tc.fill(i)
		}
		m, err := Quantize(w, 1, 32, p, graph.F32)
		if err != nil {
			t.Fatal(err)
		}
		d := m.Dequantize()
		s := math.Abs(float64(m.Scale(0, 0)))
		for i := range w {
			if e := math.Abs(float64(w[i] - d[i])); e > s/2+1e-6*math.Abs(float64(w[i]))+1e-9 {
				t.Errorf("%s: [%d] w=%g dequant=%g (scale %g bias %g)", tc.name, i, w[i], d[i], m.Scale(0, 0), m.Bias(0, 0))
			}
		}
		// The edge (extreme of larger magnitude) is reproduced exactly.
		lo, hi := w[0], w[0]
		for _, v := range w {
			lo, hi = min(lo, v), max(hi, v)
		}
		edge := hi
		if math.Abs(float64(lo)) > math.Abs(float64(hi)) {
			edge = lo
		}
		found := false
		for i := range w {
			if w[i] == edge && d[i] == edge {
				found = true
			}
		}
		if !found && edge != 0 {
			t.Errorf("%s: edge %g not exact after round trip: %v", tc.name, edge, d)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := make([]byte, 4*8*2) // 4-bit, [4, 128]: 16 words/row... sized below
	_ = good
	p := Default
	rows, cols := 4, 128
	words := make([]byte, rows*p.PackedWidth(cols)*4)
	sc := make([]byte, rows*cols/p.GroupSize*2)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"bits 7", func() error { return Params{7, 64}.Validate() }, "bits 7"},
		{"group 16", func() error { return Params{4, 16}.Validate() }, "group size 16"},
		{"group does not divide", func() error { _, err := Quantize(make([]float32, 2*96), 2, 96, p, graph.F32); return err }, "input dim 96 is not divisible by group size 64"},
		{"value count", func() error { _, err := Quantize(make([]float32, 5), 2, 64, p, graph.F32); return err }, "5 values for [2, 64]"},
		{"byte count", func() error { _, err := QuantizeBytes(make([]byte, 7), graph.BF16, 2, 64, p); return err }, "7 bytes for bf16 [2, 64]"},
		{"int weight", func() error { _, err := QuantizeBytes(make([]byte, 128), graph.I8, 2, 64, p); return err }, "cannot quantize a i8 weight"},
		{"wrong packed width", func() error {
			_, err := NewMatrix(words[:len(words)/2], sc, sc, graph.BF16, rows, cols, p)
			return err
		}, "packed weight has 32 words, want 64"},
		{"packed width for other bits", func() error {
			_, err := NewMatrix(words, sc, sc, graph.BF16, rows, cols, Params{8, 64})
			return err
		}, "want 128"},
		{"missing scales", func() error { _, err := NewMatrix(words, nil, sc, graph.BF16, rows, cols, p); return err }, "scales have 0 bytes"},
		{"missing biases", func() error { _, err := NewMatrix(words, sc, nil, graph.BF16, rows, cols, p); return err }, "biases have 0 bytes"},
		{"scale dtype", func() error { _, err := NewMatrix(words, sc, sc, graph.I32, rows, cols, p); return err }, "scales/biases dtype i32"},
		{"odd bytes", func() error { _, err := NewMatrix(words[:3], sc, sc, graph.BF16, rows, cols, p); return err }, "not whole uint32 words"},
		{"packed not whole values", func() error { _, err := Params{3, 32}.ColsFromPacked(4); return err }, "not a whole number of 3-bit values"},
		{"packed not whole groups", func() error { _, err := Params{4, 64}.ColsFromPacked(4); return err }, "not divisible by group size 64"},
	} {
		err := tc.err()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, ErrParams) && !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v wraps neither ErrParams nor ErrShape", tc.name, err)
		}
		if !contains1(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewMatrix(words, sc, sc, graph.BF16, rows, cols, p); err != nil {
		t.Errorf("well-formed matrix rejected: %v", err)
	}
	if c, err := (Params{3, 32}).ColsFromPacked(12); err != nil || c != 128 {
		t.Errorf("ColsFromPacked(3-bit, 12 words) = %d, %v; want 128", c, err)
	}
}

func contains1(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
