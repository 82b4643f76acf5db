package cpu

import "math"

// expf is exp for float32 in float32 arithmetic (Cephes' expf: range
// reduction by ln 2 in two parts and a degree-6 polynomial), accurate to
// about one ulp like the vectorised exp PyTorch uses, and several times
// faster than math.Exp. Every f32 exp of the runtime (Exp, Sigmoid, Silu,
// Softmax, attention) goes through it, so fused and primitive forms agree.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > 88.37:
		return float32(math.Exp(float64(x))) // near overflow: exact path
	case x < -87.3:
		if x < -104 {
			return 0
		}
		return float32(math.Exp(float64(x))) // subnormal results
	}
	const (
		log2e = 1.44269504088896341
	)
	fx := x*log2e + 0.5
	n := float32(int32(fx))
	if n > fx {
		n-- // floor
	}
	// The reduction in float64 keeps r exact to f32 precision even for
	// large |x| (Cephes' two-part constant loses a few ulps there).
	r := float32(float64(x) - float64(n)*math.Ln2)
	z := r * r
	y := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	y = y*z + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}
