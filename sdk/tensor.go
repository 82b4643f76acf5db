package sdk

import (
	"encoding/binary"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// Tensor is the value of a small constant a pass can see: an initializer
// with inline data (at most graph.InlineLimit bytes) or a Constant node.
// Values are widened to float64, which is exact for every dtype the IR has
// except i64/u32 magnitudes above 2^53.
type Tensor struct {
	Type   graph.TensorType
	Values []float64
}

// Scalar returns the single value of a one-element tensor.
func (t *Tensor) Scalar() (float64, bool) {
	if t == nil || len(t.Values) != 1 {
		return 0, false
	}
	return t.Values[0], true
}

// AllEqual reports whether every element equals v (and there is at least one).
func (t *Tensor) AllEqual(v float64) bool {
	if t == nil || len(t.Values) == 0 {
		return false
	}
	for _, x := range t.Values {
		if x != v {
			return false
		}
	}
	return true
}

// DecodeValues widens little-endian element bytes of dtype dt to float64.
// It reports false when the byte count is not a whole number of elements
// or the dtype is unknown.
func DecodeValues(dt graph.DType, data []byte) ([]float64, bool) {
	size := dt.Size()
	if size == 0 || len(data)%size != 0 {
		return nil, false
	}
	n := len(data) / size
	out := make([]float64, n)
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		b := data[i*size : (i+1)*size]
		switch dt {
		case graph.F32:
			out[i] = float64(math.Float32frombits(le.Uint32(b)))
		case graph.F64:
			out[i] = math.Float64frombits(le.Uint64(b))
		case graph.F16:
			out[i] = float64(HalfToFloat32(le.Uint16(b)))
		case graph.BF16:
			out[i] = float64(math.Float32frombits(uint32(le.Uint16(b)) << 16))
		case graph.I64:
			out[i] = float64(int64(le.Uint64(b)))
		case graph.I32:
			out[i] = float64(int32(le.Uint32(b)))
		case graph.U32:
			out[i] = float64(le.Uint32(b))
		case graph.I8:
			out[i] = float64(int8(b[0]))
		case graph.U8:
			out[i] = float64(b[0])
		case graph.Bool:
			if b[0] != 0 {
				out[i] = 1
			}
		default:
			return nil, false
		}
	}
	return out, true
}

// EncodeValues narrows values to little-endian bytes of dtype dt (floats
// round to nearest even, integers truncate toward zero), the inverse of
// DecodeValues for values the dtype can hold.
func EncodeValues(dt graph.DType, values []float64) []byte {
	size := dt.Size()
	out := make([]byte, size*len(values))
	le := binary.LittleEndian
	for i, v := range values {
		b := out[i*size : (i+1)*size]
		switch dt {
		case graph.F32:
			le.PutUint32(b, math.Float32bits(float32(v)))
		case graph.F64:
			le.PutUint64(b, math.Float64bits(v))
		case graph.F16:
			le.PutUint16(b, Float32ToHalf(float32(v)))
		case graph.BF16:
			le.PutUint16(b, Float32ToBF16(float32(v)))
		case graph.I64:
			le.PutUint64(b, uint64(int64(v)))
		case graph.I32:
			le.PutUint32(b, uint32(int32(v)))
		case graph.U32:
			le.PutUint32(b, uint32(v))
		case graph.I8:
			b[0] = byte(int8(v))
		case graph.U8:
			b[0] = byte(v)
		case graph.Bool:
			if v != 0 {
				b[0] = 1
			}
		}
	}
	return out
}

// HalfToFloat32 converts an IEEE 754 binary16 value.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		frac &= 0x3ff
		return math.Float32frombits(sign | e<<23 | frac<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// Float32ToHalf converts to IEEE 754 binary16, rounding to nearest even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	frac := b & 0x7fffff
	if exp == 0xff {
		if frac != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		m := frac | 0x800000
		shift := uint32(14 - e)
		half := m >> shift
		rem := m & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	h := uint32(e)<<10 | frac>>13
	rem := frac & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(h)
}

// Float32ToBF16 converts to bfloat16, rounding to nearest even.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
