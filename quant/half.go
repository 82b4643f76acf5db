package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// bf16ToF32 widens a bfloat16 bit pattern exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds to the nearest bfloat16, ties to even (as MLX's and
// PyTorch's conversions do); NaN stays NaN.
func f32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// f16ToF32 widens an IEEE half bit pattern exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: value = man * 2^-24, exact in f32
	f := float32(man) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}

// f32ToF16 rounds to the nearest IEEE half, ties to even, overflowing to
// infinity and rounding into subnormals like hardware conversion does.
func f32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7e00 | uint16(a>>13)&0x3ff
	case a >= 0x477ff000: // rounds to >= 65520: inf
		return sign | 0x7c00
	case a >= 0x38800000: // normal half range (>= 2^-14)
		r := a + 0x0fff + (a>>13)&1 // round mantissa to 10 bits, ties to even
		return sign | uint16((r-0x38000000)>>13)
	case a < 0x33000000: // < 2^-25: rounds to zero (2^-25 itself is a tie to 0)
		return sign
	}
	// subnormal half: value/2^-24 rounded to an integer, ties to even
	e := a >> 23
	m := a&0x7fffff | 0x800000
	shift := 126 - e // the implicit bit lands at 2^-24 units after shifting
	v := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && v&1 == 1) {
		v++
	}
	return sign | uint16(v)
}

// checkScaleType reports whether dt can hold scales and biases.
func checkScaleType(dt graph.DType) error {
	switch dt {
	case graph.BF16, graph.F16, graph.F32:
		return nil
	}
	return fmt.Errorf("%w: scales/biases dtype %s (want bf16, f16 or f32)", ErrParams, dt)
}

// loadScalar reads element i of a little-endian bf16/f16/f32 array.
func loadScalar(b []byte, dt graph.DType, i int) float32 {
	switch dt {
	case graph.BF16:
		return bf16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	case graph.F16:
		return f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	default:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// storeScalar writes f as element i of a little-endian bf16/f16/f32 array,
// rounding to nearest even.
func storeScalar(b []byte, dt graph.DType, i int, f float32) {
	switch dt {
	case graph.BF16:
		binary.LittleEndian.PutUint16(b[2*i:], f32ToBF16(f))
	case graph.F16:
		binary.LittleEndian.PutUint16(b[2*i:], f32ToF16(f))
	default:
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
}

// roundTrip returns f as the dtype dt would store it.
func roundTrip(f float32, dt graph.DType) float32 {
	switch dt {
	case graph.BF16:
		return bf16ToF32(f32ToBF16(f))
	case graph.F16:
		return f16ToF32(f32ToF16(f))
	}
	return f
}
