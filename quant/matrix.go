package quant

import (
	"fmt"
	"unsafe"

	"github.com/graphpass/graphpass/graph"
)

// Matrix is an affine-quantized [Rows, Cols] matrix in MLX's layout: a
// Linear weight [out, in] quantized along its input dim. It is a view: the
// slices may point into a memory-mapped checkpoint.
type Matrix struct {
	Rows, Cols int // logical (unpacked) dims: N outputs, K inputs
	Params
	// Words holds the packed codes, row-major [Rows, Cols*Bits/32].
	Words []uint32
	// Scales and Biases hold [Rows, Cols/GroupSize] little-endian values of
	// ScaleType. Element (n, k) dequantizes to
	// scales[n, k/g] * q(n, k) + biases[n, k/g].
	Scales, Biases []byte
	ScaleType      graph.DType
}

// NewMatrix views checkpoint bytes as a quantized matrix of logical dims
// [rows, cols] and checks every size against p. words must be little-endian
// uint32 data; it is used in place when 4-byte aligned, else copied.
func NewMatrix(words, scales, biases []byte, scaleType graph.DType, rows, cols int, p Params) (*Matrix, error) {
	if err := p.CheckDims(rows, cols); err != nil {
		return nil, err
	}
	if err := checkScaleType(scaleType); err != nil {
		return nil, err
	}
	if len(words)%4 != 0 {
		return nil, fmt.Errorf("%w: packed weight of %d bytes is not whole uint32 words", ErrShape, len(words))
	}
	m := &Matrix{Rows: rows, Cols: cols, Params: p, Words: bytesToWords(words),
		Scales: scales, Biases: biases, ScaleType: scaleType}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Validate checks that every slice has the size the dims and params imply.
func (m *Matrix) Validate() error {
	if err := m.CheckDims(m.Rows, m.Cols); err != nil {
		return err
	}
	if err := checkScaleType(m.ScaleType); err != nil {
		return err
	}
	if want := m.Rows * m.PackedWidth(m.Cols); len(m.Words) != want {
		return fmt.Errorf("%w: packed weight has %d words, want %d ([%d, %d] for %d columns at %d bits)",
			ErrShape, len(m.Words), want, m.Rows, m.PackedWidth(m.Cols), m.Cols, m.Bits)
	}
	want := m.Rows * (m.Cols / m.GroupSize) * m.ScaleType.Size()
	if len(m.Scales) != want {
		return fmt.Errorf("%w: scales have %d bytes, want %d (%s [%d, %d])", ErrShape, len(m.Scales), want, m.ScaleType, m.Rows, m.Cols/m.GroupSize)
	}
	if len(m.Biases) != want {
		return fmt.Errorf("%w: biases have %d bytes, want %d (%s [%d, %d])", ErrShape, len(m.Biases), want, m.ScaleType, m.Rows, m.Cols/m.GroupSize)
	}
	return nil
}

// Groups is the number of groups per row.
func (m *Matrix) Groups() int { return m.Cols / m.GroupSize }

// Scale returns the stored scale of group g of row r, widened to f32.
func (m *Matrix) Scale(r, g int) float32 { return loadScalar(m.Scales, m.ScaleType, r*m.Groups()+g) }

// Bias returns the stored bias of group g of row r, widened to f32.
func (m *Matrix) Bias(r, g int) float32 { return loadScalar(m.Biases, m.ScaleType, r*m.Groups()+g) }

// RowWords returns the packed words of row r.
func (m *Matrix) RowWords(r int) []uint32 {
	w := m.PackedWidth(m.Cols)
	return m.Words[r*w : (r+1)*w]
}

// Codes returns the quantized codes of row r.
func (m *Matrix) Codes(r int) []uint8 {
	c := make([]uint8, m.Cols)
	Unpack(c, m.RowWords(r), m.Bits)
	return c
}

// WordBytes returns the packed words as little-endian bytes (as a
// safetensors U32 tensor stores them), without copying.
func (m *Matrix) WordBytes() []byte {
	if len(m.Words) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&m.Words[0])), 4*len(m.Words))
}

// bytesToWords reinterprets little-endian bytes as uint32 words. Every
// platform we build for is little-endian; misaligned data is copied.
func bytesToWords(b []byte) []uint32 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
	}
	w := make([]uint32, len(b)/4)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(b)), b)
	return w
}
