//go:build amd64

package quant

import (
	"math"
	"sync"

	"github.com/graphpass/graphpass/graph"
)

//go:noescape
func prepAVX2(sbuf *float32, bterm *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)

//go:noescape
func prep2AVX2(sbuf *float32, bterm *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)

//go:noescape
func prep16VNNI(sbuf *float32, bpart *float32, scales *byte, biases *byte, xsum *float32, rows int, groups int, kind int, step *float32)

//go:noescape
func matvec4AVX2(dst *float32, rows int, words *uint32, xp *float32, sbuf *float32, bterm *float32, groups int, bpg int)

//go:noescape
func matvec8AVX2(dst *float32, rows int, words *uint32, xp *float32, sbuf *float32, bterm *float32, groups int, bpg int)

//go:noescape
func matvec4VNNI512g64(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)

//go:noescape
func matvec4VNNI512g64x2(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)

//go:noescape
func matvec4VNNI512g64x4(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)

//go:noescape
func matvec4VNNI512g128(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)

//go:noescape
func matvec4VNNI32(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int)

//go:noescape
func matvec8VNNI(dst *float32, rows int, words *uint32, xd *int8, sbuf *float32, bterm *float32, groups int, bpg int)

//go:noescape
func absMaxBits512(x *float32, n int) uint32

//go:noescape
func digits64x512(o *int8, stride int, x *float32, inv float32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv() (eax, edx uint32)

var hasAVX2, hasVNNI = detect()

// detect reports AVX2+FMA+F16C and AVX-512 VNNI (with VL and BW), each only when
// the OS saves the register state they need.
func detect() (avx2, vnni bool) {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, f16c = 1 << 12, 1 << 27, 1 << 29
	if ecx1&(fma|osxsave|f16c) != fma|osxsave|f16c {
		return false, false
	}
	xcr0, _ := xgetbv()
	if xcr0&6 != 6 { // xmm and ymm state
		return false, false
	}
	_, ebx7, ecx7, _ := cpuid(7, 0)
	avx2 = ebx7&(1<<5) != 0
	const avx512f, avx512bw, avx512vl, avx512vnni = 1 << 16, 1 << 30, 1 << 31, 1 << 11
	const avx512 = avx512f | avx512bw | avx512vl
	vnni = avx2 && ebx7&avx512 == avx512 && ecx7&avx512vnni != 0 &&
		xcr0&0xe0 == 0xe0 // opmask and zmm state
	return avx2, vnni
}

func kernelName() string {
	switch {
	case hasVNNI && forceKernel == "":
		return "vnni"
	case hasAVX2 && forceKernel != "generic":
		return "avx2"
	}
	return "generic"
}

// kernelFor picks the kernel for m: the vector kernels take 4- and 8-bit
// codes whose groups fill whole 32-byte blocks, and the vnni kernels 4-bit
// groups of 32 (16 bytes) too.
func kernelFor(m *Matrix) string {
	k := kernelName()
	if k == "generic" || (m.Bits != 4 && m.Bits != 8) || m.Groups() > sbufFloats {
		return "generic"
	}
	if m.GroupWords()%8 != 0 && !(k == "vnni" && m.Bits == 4 && m.GroupSize == 32) {
		return "generic"
	}
	return k
}

func prepareArch(v *Vec, m *Matrix) {
	switch v.kernel {
	case "avx2":
		v.xp = grow(v.xp, m.Cols)
		prepareFloat(v.xp, v.x, m.Bits)
		v.step = ones(v.step, m.Groups())
	case "vnni":
		v.xd = grow(v.xd, 3*m.Cols)
		v.step = grow(v.step, m.Groups())
		if !prepareFixed(v.xd, v.step, v.x, m.Bits, m.GroupSize) {
			v.kernel = "generic" // Inf or NaN in x: let f32 arithmetic propagate it
		}
	}
}

func ones(s []float32, n int) []float32 {
	s = grow(s, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// prepareFloat lays x out for the avx2 kernels (see kernel_amd64.s):
// xp[8k+j] of each block is x[per·j+k]·2^(-bits·k), the top code unscaled.
func prepareFloat(xp, x []float32, bits int) {
	per := 32 / bits // codes per word
	block := 8 * per // codes per 8-word block
	step := float32(1) / float32(int(1)<<bits)
	for b := 0; b < len(x); b += block {
		xb, pb := x[b:b+block], xp[b:b+block]
		f := float32(1)
		for k := 0; k < per; k++ {
			if k == per-1 {
				f = 1
			}
			for j := 0; j < 8; j++ {
				pb[8*k+j] = xb[j*per+k] * f
			}
			f *= step
		}
	}
}

// fixedBits is the magnitude of the vnni kernels' fixed-point x: |X| ≤ 2^22,
// so the top digit stays within a signed byte.
const fixedBits = 22

// prepareFixed encodes x for the vnni kernels: per group, step is the
// power of two with max|x| < 2^22·step, X = rint(x/step) (exact scaling,
// one rounding), and X's balanced base-256 digits are stored as laid out
// in kernel_amd64.s. It reports false if x holds an Inf or NaN.
func prepareFixed(xd []int8, step, x []float32, bits, group int) bool {
	for j := range step {
		xs := x[j*group : (j+1)*group]
		// |f| orders like its bits with the sign cleared; Inf and NaN
		// are the patterns from 0x7f800000 up.
		// Groups are 32, 64 or 128 values, and the vnni kernels imply AVX-512.
		amax := absMaxBits512(&xs[0], group)
		if amax >= 0x7f800000 {
			return false
		}
		e := max(int(amax>>23)-126, -100) // max|x| < 2^e; the floor keeps 1/step finite
		step[j] = math.Float32frombits(uint32(e-fixedBits+127) << 23)
		inv := math.Float32frombits(uint32(fixedBits-e+127) << 23)
		out := xd[3*j*group : 3*(j+1)*group]
		if bits == 4 && group == 32 {
			// per group: d0 even, d0 odd, d1 even, d1 odd, d2 even, d2 odd (16 bytes each)
			for t := 0; t < 16; t++ {
				e0, e1, e2 := digits(fixed(xs[2*t], inv))
				o0, o1, o2 := digits(fixed(xs[2*t+1], inv))
				out[t], out[16+t], out[32+t], out[48+t], out[64+t], out[80+t] = e0, o0, e1, o1, e2, o2
			}
		} else if bits == 4 {
			// 64-code blocks taken in pairs across the row (see the
			// zmm kernels in kernel_amd64.s): plane P of block 2p+h at
			// 384p + 64P + 32h; an odd last block alone, plane P at 32P.
			blocks := len(x) / 64
			for b := j * group / 64; b < (j+1)*group/64; b++ {
				xb := x[64*b : 64*b+64]
				base, planeStride, half := 192*b, 32, 0
				if b < blocks&^1 {
					base, planeStride, half = 384*(b/2), 64, 32*(b%2)
				}
				o := xd[base+half : base+half+5*planeStride+32]
				digits64x512(&o[0], planeStride, &xb[0], inv)
			}
		} else {
			// per 32-code block: d0, d1, d2
			for b := 0; b < group; b += 32 {
				o := out[3*b : 3*b+96 : 3*b+96]
				xb := xs[b : b+32 : b+32]
				for t := 0; t < 32; t++ {
					o[t], o[32+t], o[64+t] = digits(fixed(xb[t], inv))
				}
			}
		}
	}
	return true
}

// fixed returns rint(f·inv) for |f·inv| ≤ 2^22: adding and subtracting
// 1.5·2^23 rounds to an integer, half to even, in f32 arithmetic.
func fixed(f, inv float32) int32 {
	const magic = 1.5 * (1 << 23)
	y := f * inv
	return int32(float32(y+magic) - magic)
}

// digits splits X (|X| ≤ 2^22) into signed bytes with X = d2·2^16 + d1·2^8 + d0.
func digits(X int32) (d0, d1, d2 int8) {
	d0 = int8(X)
	X = (X - int32(d0)) >> 8
	d1 = int8(X)
	X = (X - int32(d1)) >> 8
	return d0, d1, int8(X)
}

func scaleKind(dt graph.DType) int {
	switch dt {
	case graph.BF16:
		return 0
	case graph.F16:
		return 1
	}
	return 2
}

// sbufFloats bounds the widened scales of one chunk of rows.
const sbufFloats = 2048

// scratch holds a chunk's widened scales and bias terms. It comes from a
// pool rather than the stack: Go would zero 8 KiB of stack on every call,
// which cost 18% of a 16-row call (parallelOwned's smallest piece).
type scratch struct {
	sbuf  [sbufFloats + 16]float32 // VPERMPS reads 64 bytes
	bterm [64]float32              // one per row
	bpart [64 * 16]float32         // 16 partial sums per row (prep16VNNI)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func matvecArch(dst []float32, v *Vec, m *Matrix, r0, r1 int) {
	gpr := m.Groups()
	es := m.ScaleType.Size()
	kind := scaleKind(m.ScaleType)
	chunk := max(1, min(64, sbufFloats/gpr))
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	sbuf, bterm, bpart := &sc.sbuf, &sc.bterm, &sc.bpart
	// The zmm 4-bit kernels take their bias terms as 16 partial sums per
	// row (see prep16VNNI); the others as one sum per row.
	zmm4 := v.kernel == "vnni" && m.Bits == 4 && m.GroupSize != 32
	for r := r0; r < r1; r += chunk {
		n := min(chunk, r1-r)
		scales, biases := &m.Scales[r*gpr*es], &m.Biases[r*gpr*es]
		switch {
		case zmm4:
			prep16VNNI(&sbuf[0], &bpart[0], scales, biases, &v.xsum[0], n, gpr, kind, &v.step[0])
		case gpr%8 == 0:
			prep2AVX2(&sbuf[0], &bterm[0], scales, biases, &v.xsum[0], n, gpr, kind, &v.step[0])
		default:
			prepAVX2(&sbuf[0], &bterm[0], scales, biases, &v.xsum[0], n, gpr, kind, &v.step[0])
		}
		w := &m.RowWords(r)[0]
		switch {
		case zmm4 && m.GroupSize == 64:
			if quads := n &^ 3; quads > 0 {
				matvec4VNNI512g64x4(&dst[r], quads, w, &v.xd[0], &sbuf[0], &bpart[0], gpr)
			}
			if n&2 != 0 {
				p := n &^ 3
				matvec4VNNI512g64x2(&dst[r+p], 2, &m.RowWords(r + p)[0], &v.xd[0], &sbuf[p*gpr], &bpart[16*p], gpr)
			}
			if n&1 != 0 {
				last := r + n - 1
				matvec4VNNI512g64(&dst[last], 1, &m.RowWords(last)[0], &v.xd[0], &sbuf[(n-1)*gpr], &bpart[16*(n-1)], gpr)
			}
		case zmm4:
			matvec4VNNI512g128(&dst[r], n, w, &v.xd[0], &sbuf[0], &bpart[0], gpr)
		case v.kernel == "vnni" && m.Bits == 4:
			matvec4VNNI32(&dst[r], n, w, &v.xd[0], &sbuf[0], &bterm[0], gpr)
		case v.kernel == "vnni":
			matvec8VNNI(&dst[r], n, w, &v.xd[0], &sbuf[0], &bterm[0], gpr, m.GroupSize/32)
		case m.Bits == 4:
			matvec4AVX2(&dst[r], n, w, &v.xp[0], &sbuf[0], &bterm[0], gpr, m.GroupWords()/8)
		default:
			matvec8AVX2(&dst[r], n, w, &v.xp[0], &sbuf[0], &bterm[0], gpr, m.GroupWords()/8)
		}
	}
}
