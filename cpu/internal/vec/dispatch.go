package vec

// DotF32 returns Σ x[i]·w[i] over len(x) (w at least as long).
func DotF32(x, w []float32) float32 { return dotF32(x, w) }

// DotBF16 returns Σ x[i]·bf16(w[i]).
func DotBF16(x []float32, w []uint16) float32 { return dotBF16(x, w) }

// DotF16 returns Σ x[i]·f16(w[i]).
func DotF16(x []float32, w []uint16) float32 { return dotF16(x, w) }

// AxpyF32 does y[i] += alpha·x[i] over len(y).
func AxpyF32(y []float32, alpha float32, x []float32) { axpyF32(y, alpha, x) }

// AxpyBF16 does y[i] += alpha·bf16(x[i]).
func AxpyBF16(y []float32, alpha float32, x []uint16) { axpyBF16(y, alpha, x) }

// AxpyF16 does y[i] += alpha·f16(x[i]).
func AxpyF16(y []float32, alpha float32, x []uint16) { axpyF16(y, alpha, x) }

// BF16ToF32 widens src[:len(dst)] into dst.
func BF16ToF32(dst []float32, src []uint16) { bf16ToF32(dst, src) }

// F16ToF32 widens src[:len(dst)] into dst.
func F16ToF32(dst []float32, src []uint16) { f16ToF32(dst, src) }

// Dot4F32 sets out[j] = Σ x[i]·wj[i] for four rows at once (x is read once).
func Dot4F32(x, w0, w1, w2, w3 []float32, out *[4]float32) { dot4F32(x, w0, w1, w2, w3, out) }

// Sum returns Σ x[i]. It streams through memory with little compute, so
// over a buffer much larger than the caches it measures read bandwidth.
func Sum(x []float32) float32 { return sum(x) }

// Sum4 returns Σ of four slices of one length, read side by side with the
// decode kernels' software prefetch: the access pattern that gets the most
// bandwidth out of one core (see MeasureReadBandwidth).
func Sum4(a, b, c, d []float32) float32 {
	if len(b) != len(a) || len(c) != len(a) || len(d) != len(a) {
		panic("vec: Sum4 of slices of different lengths")
	}
	return sum4(a, b, c, d)
}

// Dot3x4F32 sets out[4*i+j] = Σ xi[k]·wj[k] over len(x0): a 3×4 tile of
// dot products, each input row read once.
func Dot3x4F32(x0, x1, x2, w0, w1, w2, w3 []float32, out *[12]float32) {
	dot3x4F32(x0, x1, x2, w0, w1, w2, w3, out)
}

// The vector exp-family kernels do a prefix of the slice (a multiple of
// the vector width) and report how much; the caller finishes the rest with
// its scalar function. The portable versions do nothing.
func expTailGo(dst, src []float32) int     { return 0 }
func siluTailGo(dst, src []float32) int    { return 0 }
func swigluTailGo(dst, g, u []float32) int { return 0 }

// ExpPrefix sets dst[i] = exp(src[i]) for a prefix of dst with vector
// instructions (inputs below -87.3 give 0) and returns its length; the
// rest is the caller's.
func ExpPrefix(dst, src []float32) int { return expTail(dst, src) }

// SiluPrefix sets dst[i] = src[i] / (1 + exp(-src[i])) for a prefix, like ExpPrefix.
func SiluPrefix(dst, src []float32) int { return siluTail(dst, src) }

// SwiGLUPrefix sets dst[i] = silu(g[i]) · u[i] for a prefix, like ExpPrefix.
func SwiGLUPrefix(dst, g, u []float32) int { return swiTail(dst, g, u) }
