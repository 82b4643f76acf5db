package cpu

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2000000; i++ {
		x := float32(-104 + 192.5*float64(i)/2000000)
		got, want := float64(expf(x)), math.Exp(float64(x))
		if want < 0x1p-126 || math.IsInf(float64(float32(want)), 0) {
			continue
		}
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	// float32 rounding alone is 6e-8; allow two ulps.
	if worst > 2.4e-7 {
		t.Errorf("max relative error %.3g", worst)
	}
	for _, c := range []struct{ x, want float32 }{{0, 1}, {-200, 0}, {float32(math.Inf(-1)), 0}, {-3.4e38, 0}} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if !math.IsInf(float64(expf(100)), 1) || !math.IsNaN(float64(expf(float32(math.NaN())))) {
		t.Error("overflow or NaN mishandled")
	}
}
