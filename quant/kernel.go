package quant

import "fmt"

// The kernels compute straight from packed words: a dequantized weight
// matrix never exists. They work on a range of output rows so that a
// runtime can split one product over goroutines; each call is
// single-threaded and allocation-free in the steady state.
//
// For one row r and groups j the result is
//
//	y[r] = Σ_j scale[r,j]·(Σ_{k in j} q[r,k]·x[k]) + bias[r,j]·(Σ_{k in j} x[k])
//
// accumulated in f32 (MLX's quantized matvec factors the bias the same
// way). Which kernel runs depends on the machine (see Kernel); they agree
// to f32 rounding: the "vnni" kernel represents x per group as a 23-bit
// fixed-point number (error ≤ 2^-23 of the group's largest |x|), which is
// as exact as accumulating the products in f32.

// forceKernel, when not "", limits the kernels to "avx2" or "generic"
// (tests compare every path).
var forceKernel = ""

// Kernel names the matrix-vector kernel used for 4- and 8-bit codes on
// this machine: "vnni" (amd64 with AVX-512 VNNI), "avx2" (amd64 with AVX2,
// FMA and F16C) or "generic" (portable Go, also used for 2, 3, 5 and 6
// bits and for layouts the vector kernels do not cover).
func Kernel() string { return kernelName() }

// Vec is an input vector prepared for products with quantized matrices of
// one layout (Cols, Bits, GroupSize): its group sums and the vector
// kernel's encoding of x. Prepare it once per input and share it between
// goroutines that compute different row ranges (it is read-only then);
// q, k and v projections of one token can share one Vec too.
type Vec struct {
	cols, bits, group int
	kernel            string
	x                 []float32 // as given (portable kernels)
	xsum              []float32 // Σ x over each group
	step              []float32 // per-group factor folded into scales (1 for float kernels)
	xp                []float32 // avx2 layout
	xd                []int8    // vnni layout
}

// Prepare readies v for products of x (len m.Cols) with matrices laid out
// like m, reusing v's buffers. x must not change while v is in use.
func (v *Vec) Prepare(x []float32, m *Matrix) {
	if len(x) != m.Cols {
		panic(fmt.Sprintf("quant: x has %d values for %d columns", len(x), m.Cols))
	}
	v.cols, v.bits, v.group = m.Cols, m.Bits, m.GroupSize
	v.x = x
	v.kernel = kernelFor(m)
	v.xsum = grow(v.xsum, m.Groups())
	g := m.GroupSize
	for j := range v.xsum {
		xs := x[j*g : (j+1)*g : (j+1)*g]
		var s0, s1, s2, s3 float32
		for k := 0; k < len(xs); k += 4 {
			s0 += xs[k]
			s1 += xs[k+1]
			s2 += xs[k+2]
			s3 += xs[k+3]
		}
		v.xsum[j] = (s0 + s1) + (s2 + s3)
	}
	prepareArch(v, m)
}

// MatVecRows computes dst[r] = Σ_k x[k]·W[r,k] for rows r in
// [rowStart, rowEnd) with the x v was prepared with. dst is indexed by row
// (len ≥ rowEnd), so concurrent calls on disjoint ranges may share it.
func (v *Vec) MatVecRows(dst []float32, m *Matrix, rowStart, rowEnd int) {
	if v.cols != m.Cols || v.bits != m.Bits || v.group != m.GroupSize {
		panic(fmt.Sprintf("quant: vector prepared for cols=%d bits=%d group=%d, matrix has %d %d %d",
			v.cols, v.bits, v.group, m.Cols, m.Bits, m.GroupSize))
	}
	checkCall(len(dst), 1, v.x, m, rowStart, rowEnd)
	if rowStart == rowEnd {
		return
	}
	if v.kernel == "generic" {
		for r := rowStart; r < rowEnd; r++ {
			dst[r] = rowDot(m, r, v.x, v.xsum)
		}
		return
	}
	matvecArch(dst, v, m, rowStart, rowEnd)
}

// MatVecRows computes dst[r] = Σ_k x[k]·W[r,k] for rows r in
// [rowStart, rowEnd) of the quantized W (x · Wᵀ for one token). x has m.Cols
// values; dst is indexed by row (len ≥ rowEnd) so concurrent calls on
// disjoint row ranges may share it. The encoding of x is cached (see
// prepcache.go), so splitting one product into many row ranges costs
// little; a caller may also prepare a Vec itself.
// Misuse (wrong lengths, bad range) panics: these are programming errors,
// not input errors.
func MatVecRows(dst, x []float32, m *Matrix, rowStart, rowEnd int) {
	MatMulRows(dst, x, 1, m, rowStart, rowEnd)
}

// MatMulRows computes the [batch, Rows] product x · Wᵀ restricted to output
// columns [rowStart, rowEnd): dst[b*m.Rows + r] = Σ_k x[b*m.Cols + k]·W[r,k].
// x is row-major [batch, m.Cols]; dst is [batch, m.Rows].
func MatMulRows(dst, x []float32, batch int, m *Matrix, rowStart, rowEnd int) {
	checkCall(len(dst), batch, x, m, rowStart, rowEnd)
	if rowStart == rowEnd || batch == 0 {
		return
	}
	p := PrepareInput(x, batch, m)
	defer p.Release()
	p.MatMulRows(dst, m, rowStart, rowEnd)
}

// Prepared is an input x [batch, Cols] encoded for the kernels of one
// matrix layout, taken from a small cache keyed by x's contents: the
// q, k and v (or gate and up) projections of a token share one encoding.
// A runtime prepares once, splits the rows over goroutines that call
// MatMulRows concurrently, then releases it. x must not change meanwhile.
type Prepared struct{ e *prepEntry }

// PrepareInput encodes x (len batch·m.Cols) for products with matrices
// laid out like m, or finds it already encoded.
func PrepareInput(x []float32, batch int, m *Matrix) Prepared {
	if batch < 1 || len(x) != batch*m.Cols {
		panic(fmt.Sprintf("quant: x has %d values for batch %d of %d columns", len(x), batch, m.Cols))
	}
	return Prepared{acquirePrepared(x, batch, m)}
}

// Release returns the encoding to the cache.
func (p Prepared) Release() { p.e.release() }

// MatMulRows is the package's MatMulRows with x already prepared. Rows
// are taken in chunks small enough to stay in cache while every batch row
// reads them, so weight traffic does not grow with the batch.
func (p Prepared) MatMulRows(dst []float32, m *Matrix, rowStart, rowEnd int) {
	vecs := p.e.vecs
	if len(dst) < (len(vecs)-1)*m.Rows+rowEnd {
		panic(fmt.Sprintf("quant: dst has %d values for batch %d of [%d, %d]", len(dst), len(vecs), m.Rows, m.Cols))
	}
	if len(vecs) == 1 {
		vecs[0].MatVecRows(dst, m, rowStart, rowEnd)
		return
	}
	// ~64 KiB of packed weights per chunk: L2-resident across the batch.
	chunk := max(1, 64<<10/(4*m.PackedWidth(m.Cols)))
	for r := rowStart; r < rowEnd; r += chunk {
		r1 := min(r+chunk, rowEnd)
		for b := range vecs {
			vecs[b].MatVecRows(dst[b*m.Rows:(b+1)*m.Rows], m, r, r1)
		}
	}
}

func checkCall(dstLen, batch int, x []float32, m *Matrix, rowStart, rowEnd int) {
	if batch < 0 || len(x) != batch*m.Cols || dstLen < (batch-1)*m.Rows+rowEnd {
		panic(fmt.Sprintf("quant: x has %d values and dst %d for batch %d of [%d, %d]", len(x), dstLen, batch, m.Rows, m.Cols))
	}
	if rowStart < 0 || rowStart > rowEnd || rowEnd > m.Rows {
		panic(fmt.Sprintf("quant: row range [%d, %d) outside [0, %d)", rowStart, rowEnd, m.Rows))
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// rowDot is the portable kernel for one row.
func rowDot(m *Matrix, r int, x, xsum []float32) float32 {
	words := m.RowWords(r)
	gw, g := m.GroupWords(), m.GroupSize
	base := r * m.Groups()
	var acc float32
	var codes [128]uint8
	for j := 0; j < m.Groups(); j++ {
		ws := words[j*gw : (j+1)*gw]
		xs := x[j*g : (j+1)*g]
		var d float32
		switch m.Bits {
		case 4:
			d = dot4(ws, xs)
		case 8:
			d = dot8(ws, xs)
		case 2:
			d = dot2(ws, xs)
		default:
			c := codes[:g]
			unpackGroup(c, ws, m.Bits)
			var a0, a1, a2, a3 float32
			for k := 0; k < g; k += 4 {
				a0 += byteF[c[k]] * xs[k]
				a1 += byteF[c[k+1]] * xs[k+1]
				a2 += byteF[c[k+2]] * xs[k+2]
				a3 += byteF[c[k+3]] * xs[k+3]
			}
			d = (a0 + a1) + (a2 + a3)
		}
		s := loadScalar(m.Scales, m.ScaleType, base+j)
		b := loadScalar(m.Biases, m.ScaleType, base+j)
		acc += s*d + b*xsum[j]
	}
	return acc
}

// Lookup tables turn code bytes into floats with one load instead of an
// integer-to-float conversion per code (about 30% faster in pure Go).
var (
	nibbles = func() (t [256][2]float32) { // byte → its two 4-bit codes
		for b := range t {
			t[b] = [2]float32{float32(b & 15), float32(b >> 4)}
		}
		return t
	}()
	crumbs = func() (t [256][4]float32) { // byte → its four 2-bit codes
		for b := range t {
			t[b] = [4]float32{float32(b & 3), float32(b >> 2 & 3), float32(b >> 4 & 3), float32(b >> 6)}
		}
		return t
	}()
	byteF = func() (t [256]float32) {
		for b := range t {
			t[b] = float32(b)
		}
		return t
	}()
)

func dot4(ws []uint32, x []float32) float32 {
	var a0, a1, a2, a3 float32
	x = x[:len(ws)*8]
	for i, w := range ws {
		xx := (*[8]float32)(x[i*8:])
		p0, p1, p2, p3 := &nibbles[w&255], &nibbles[w>>8&255], &nibbles[w>>16&255], &nibbles[w>>24]
		a0 += p0[0]*xx[0] + p0[1]*xx[1]
		a1 += p1[0]*xx[2] + p1[1]*xx[3]
		a2 += p2[0]*xx[4] + p2[1]*xx[5]
		a3 += p3[0]*xx[6] + p3[1]*xx[7]
	}
	return (a0 + a1) + (a2 + a3)
}

func dot8(ws []uint32, x []float32) float32 {
	var a0, a1, a2, a3 float32
	x = x[:len(ws)*4]
	for i, w := range ws {
		xx := (*[4]float32)(x[i*4:])
		a0 += byteF[w&255] * xx[0]
		a1 += byteF[w>>8&255] * xx[1]
		a2 += byteF[w>>16&255] * xx[2]
		a3 += byteF[w>>24] * xx[3]
	}
	return (a0 + a1) + (a2 + a3)
}

func dot2(ws []uint32, x []float32) float32 {
	var a0, a1, a2, a3 float32
	x = x[:len(ws)*16]
	for i, w := range ws {
		xx := (*[16]float32)(x[i*16:])
		p0, p1, p2, p3 := &crumbs[w&255], &crumbs[w>>8&255], &crumbs[w>>16&255], &crumbs[w>>24]
		a0 += p0[0]*xx[0] + p0[1]*xx[1] + p0[2]*xx[2] + p0[3]*xx[3]
		a1 += p1[0]*xx[4] + p1[1]*xx[5] + p1[2]*xx[6] + p1[3]*xx[7]
		a2 += p2[0]*xx[8] + p2[1]*xx[9] + p2[2]*xx[10] + p2[3]*xx[11]
		a3 += p3[0]*xx[12] + p3[1]*xx[13] + p3[2]*xx[14] + p3[3]*xx[15]
	}
	return (a0 + a1) + (a2 + a3)
}
