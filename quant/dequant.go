package quant

import "fmt"

// DequantizeRow writes row r of the dequantized matrix to dst (len Cols):
// dst[k] = scale·q + bias in f32, with the stored (rounded) scale and bias.
// The product is rounded before the add (no fused multiply-add), matching
// a reference that computes scale*q + bias elementwise.
func (m *Matrix) DequantizeRow(dst []float32, r int) {
	dst = dst[:m.Cols]
	g := m.GroupSize
	var codes [128]uint8
	words := m.RowWords(r)
	gw := m.GroupWords()
	for j := 0; j < m.Groups(); j++ {
		c := codes[:g]
		unpackGroup(c, words[j*gw:(j+1)*gw], m.Bits)
		s, b := m.Scale(r, j), m.Bias(r, j)
		out := dst[j*g : (j+1)*g]
		for k, q := range c {
			out[k] = float32(s*float32(q)) + b
		}
	}
}

// Dequantize returns the whole dequantized matrix, row-major [Rows, Cols].
// It is for tests, tools and checkpoint conversion; kernels never call it.
func (m *Matrix) Dequantize() []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		m.DequantizeRow(out[r*m.Cols:(r+1)*m.Cols], r)
	}
	return out
}

// Gather writes the dequantized rows ids[i] to dst[i*Cols:(i+1)*Cols] (an
// embedding lookup on a quantized table, QuantizedGather). An id out of
// [0, Rows) is an error naming it; dst is then partly written.
func Gather(dst []float32, m *Matrix, ids []int64) error {
	if len(dst) < len(ids)*m.Cols {
		return fmt.Errorf("quant: gather of %d rows of %d into %d values", len(ids), m.Cols, len(dst))
	}
	for i, id := range ids {
		if id < 0 || id >= int64(m.Rows) {
			return fmt.Errorf("quant: gather index %d (position %d) out of range [0, %d)", id, i, m.Rows)
		}
		m.DequantizeRow(dst[i*m.Cols:(i+1)*m.Cols], int(id))
	}
	return nil
}

// unpackGroup decodes len(dst) codes from a group's words with a running
// bit buffer, for any width (a group always starts on a word boundary).
func unpackGroup(dst []uint8, words []uint32, bits int) {
	mask := uint64(1)<<bits - 1
	var buf uint64
	nb, wi := 0, 0
	for k := range dst {
		if nb < bits {
			buf |= uint64(words[wi]) << nb
			wi++
			nb += 32
		}
		dst[k] = uint8(buf & mask)
		buf >>= bits
		nb -= bits
	}
}
