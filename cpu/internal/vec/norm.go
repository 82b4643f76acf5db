package vec

// SumSqF32 returns Σ v[i]² in the order the CPU runtime's reductions fix:
// eight lanes (element i of the whole blocks of eight in lane i mod 8,
// the rest in lanes 0, 1, ...), each square rounded to f32 before it is
// added, and the lanes added as ((0+4)+(1+5))+((2+6)+(3+7)). Both paths
// give the same bits.
func SumSqF32(v []float32) float32 { return sumSq(v) }

// ScaleMulF32 sets y[i] = w[i]·(x[i]·r), each product rounded (the last
// step of RMSNorm). Both paths give the same bits.
func ScaleMulF32(y, x, w []float32, r float32) {
	x, w = x[:len(y)], w[:len(y)]
	scaleMul(y, x, w, r)
}

// RotateF32 rotates pairs (x1[i], x2[i]) by the angles whose cosines and
// sines are c[i], s[i]: y1 = x1·c − x2·s and y2 = x2·c + x1·s, each
// product rounded before the sum (rotary embeddings, as their primitive
// form computes them). Both paths give the same bits.
func RotateF32(y1, y2, x1, x2, c, s []float32) {
	n := len(y1)
	y2, x1, x2, c, s = y2[:n], x1[:n], x2[:n], c[:n], s[:n]
	rotate(y1, y2, x1, x2, c, s)
}

func sumSqGo(v []float32) float32 {
	var a [8]float32
	sumSqLanesGo(&a, v)
	return foldLanes(&a)
}

// sumSqLanesGo adds v's squares into the lanes of a (see SumSqF32).
func sumSqLanesGo(a *[8]float32, v []float32) {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		for j := range a {
			a[j] += float32(v[i+j] * v[i+j])
		}
	}
	for j := 0; i < len(v); i, j = i+1, j+1 {
		a[j] += float32(v[i] * v[i])
	}
}

func scaleMulGo(y, x, w []float32, r float32) {
	for i, v := range x {
		y[i] = w[i] * float32(v*r)
	}
}

func rotateGo(y1, y2, x1, x2, c, s []float32) {
	for i := range y1 {
		a, b := x1[i], x2[i]
		y1[i] = float32(a*c[i]) - float32(b*s[i])
		y2[i] = float32(b*c[i]) + float32(a*s[i])
	}
}
