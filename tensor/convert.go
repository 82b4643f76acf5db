package tensor

import (
	"encoding/binary"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// BF16ToF32 widens a bfloat16 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds a float32 to bfloat16, to nearest with ties to even;
// NaNs stay NaN (quiet) and overflow rounds to ±Inf, as in PyTorch.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToF32 widens an IEEE half (exact, including subnormals, Inf and NaN).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = mant * 2^-24.
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// F32ToF16 rounds a float32 to IEEE half, to nearest with ties to even,
// producing subnormals, ±Inf on overflow, and a quiet NaN for NaN.
func F32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23) & 0xff
	mant := u & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 // NaN
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign // rounds to zero
		}
		// Subnormal half: shift the full mantissa (with implicit 1) right.
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, up to Inf: correct
	}
	return sign | uint16(half)
}

// ConvertToF32 decodes the elements in src (of dtype dt) into dst.
func ConvertToF32(dst []float32, dt graph.DType, src []byte) {
	switch dt {
	case graph.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case graph.BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case graph.F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	default:
		for i := range dst {
			dst[i] = float32(float64At(dt, src, i))
		}
	}
}

// ConvertBytes converts len(dst)/dstT.Size() elements from src (srcT) into
// dst (dstT): floats round to nearest even, floats to integers truncate
// toward zero, anything to bool is "nonzero".
func ConvertBytes(dst []byte, dstT graph.DType, src []byte, srcT graph.DType) {
	n := len(dst) / dstT.Size()
	if dstT == srcT {
		copy(dst, src[:len(dst)])
		return
	}
	if srcT.IsFloat() && dstT.IsFloat() {
		for i := 0; i < n; i++ {
			setFloat(dstT, dst, i, float64At(srcT, src, i))
		}
		return
	}
	for i := 0; i < n; i++ {
		if srcT.IsFloat() {
			v := float64At(srcT, src, i)
			if dstT == graph.Bool {
				setInt(dstT, dst, i, b2i(v != 0))
			} else {
				setInt(dstT, dst, i, truncInt(v))
			}
			continue
		}
		v := int64At(srcT, src, i)
		if dstT.IsFloat() {
			setFloat(dstT, dst, i, float64(v))
		} else if dstT == graph.Bool {
			setInt(dstT, dst, i, b2i(v != 0))
		} else {
			setInt(dstT, dst, i, v)
		}
	}
}

func truncInt(v float64) int64 {
	switch {
	case v != v:
		return 0
	case v >= math.MaxInt64:
		return math.MaxInt64
	case v <= math.MinInt64:
		return math.MinInt64
	}
	return int64(v)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Float64At returns element i as a float64.
func (t *Tensor) Float64At(i int) float64 {
	if t.DType.IsFloat() {
		return float64At(t.DType, t.data, i)
	}
	return float64(int64At(t.DType, t.data, i))
}

// Int64At returns element i as an int64 (floats truncate toward zero).
func (t *Tensor) Int64At(i int) int64 {
	if t.DType.IsFloat() {
		return truncInt(float64At(t.DType, t.data, i))
	}
	return int64At(t.DType, t.data, i)
}

// SetFloat64 stores v in element i, rounding or truncating to t's dtype.
func (t *Tensor) SetFloat64(i int, v float64) {
	if t.DType.IsFloat() {
		setFloat(t.DType, t.data, i, v)
		return
	}
	if t.DType == graph.Bool {
		setInt(t.DType, t.data, i, b2i(v != 0))
		return
	}
	setInt(t.DType, t.data, i, truncInt(v))
}

func float64At(dt graph.DType, b []byte, i int) float64 {
	le := binary.LittleEndian
	switch dt {
	case graph.F32:
		return float64(math.Float32frombits(le.Uint32(b[4*i:])))
	case graph.F64:
		return math.Float64frombits(le.Uint64(b[8*i:]))
	case graph.BF16:
		return float64(BF16ToF32(le.Uint16(b[2*i:])))
	case graph.F16:
		return float64(F16ToF32(le.Uint16(b[2*i:])))
	}
	return float64(int64At(dt, b, i))
}

func int64At(dt graph.DType, b []byte, i int) int64 {
	le := binary.LittleEndian
	switch dt {
	case graph.I64:
		return int64(le.Uint64(b[8*i:]))
	case graph.I32:
		return int64(int32(le.Uint32(b[4*i:])))
	case graph.U32:
		return int64(le.Uint32(b[4*i:]))
	case graph.I8:
		return int64(int8(b[i]))
	case graph.U8:
		return int64(b[i])
	case graph.Bool:
		return b2i(b[i] != 0)
	}
	return truncInt(float64At(dt, b, i))
}

func setFloat(dt graph.DType, b []byte, i int, v float64) {
	le := binary.LittleEndian
	switch dt {
	case graph.F32:
		le.PutUint32(b[4*i:], math.Float32bits(float32(v)))
	case graph.F64:
		le.PutUint64(b[8*i:], math.Float64bits(v))
	case graph.BF16:
		le.PutUint16(b[2*i:], F32ToBF16(float32(v)))
	case graph.F16:
		le.PutUint16(b[2*i:], F32ToF16(float32(v)))
	}
}

func setInt(dt graph.DType, b []byte, i int, v int64) {
	le := binary.LittleEndian
	switch dt {
	case graph.I64:
		le.PutUint64(b[8*i:], uint64(v))
	case graph.I32:
		le.PutUint32(b[4*i:], uint32(v))
	case graph.U32:
		le.PutUint32(b[4*i:], uint32(v))
	case graph.I8, graph.U8:
		b[i] = byte(v)
	case graph.Bool:
		b[i] = byte(b2i(v != 0))
	}
}
