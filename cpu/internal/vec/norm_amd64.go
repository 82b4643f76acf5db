//go:build !purego

package vec

//go:noescape
func sumSqLanesAVX2(x *float32, n int, acc *[8]float32)

//go:noescape
func scaleMulAVX2(y, x, w *float32, n int, r float32)

//go:noescape
func rotateAVX2(y1, y2, x1, x2, c, s *float32, n int)

var (
	sumSq    = sumSqGo
	scaleMul = scaleMulGo
	rotate   = rotateGo
)

// The kernels take whole blocks of eight; the wrappers do the rest in Go.
func init() {
	if !hasAVX2 {
		return
	}
	sumSq = func(v []float32) float32 {
		var a [8]float32
		n := len(v) &^ 7
		if n > 0 {
			sumSqLanesAVX2(&v[0], n, &a)
		}
		sumSqLanesGo(&a, v[n:])
		return foldLanes(&a)
	}
	scaleMul = func(y, x, w []float32, r float32) {
		n := len(y) &^ 7
		if n > 0 {
			scaleMulAVX2(&y[0], &x[0], &w[0], n, r)
		}
		scaleMulGo(y[n:], x[n:], w[n:], r)
	}
	rotate = func(y1, y2, x1, x2, c, s []float32) {
		n := len(y1) &^ 7
		if n > 0 {
			rotateAVX2(&y1[0], &y2[0], &x1[0], &x2[0], &c[0], &s[0], n)
		}
		rotateGo(y1[n:], y2[n:], x1[n:], x2[n:], c[n:], s[n:])
	}
}
