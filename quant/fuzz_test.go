package quant

import (
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// FuzzNewMatrix feeds arbitrary bytes and dims to NewMatrix, as a
// checkpoint loader would: it must reject what does not fit with an
// error, and whatever it accepts must be safe to compute with.
func FuzzNewMatrix(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, uint8(4), uint8(1), uint8(2), uint8(64), uint8(0))
	f.Add(make([]byte, 600), uint8(3), uint8(2), uint8(2), uint8(32), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, bits, rows, colGroups, group, dt uint8) {
		p := Params{Bits: int(bits % 9), GroupSize: int(group)}
		r, c := int(rows%8), int(colGroups%4)*int(group)
		sdt := []graph.DType{graph.BF16, graph.F16, graph.F32, graph.I8}[dt%4]
		// split data into words, scales and biases of whatever lengths
		n := len(data)
		words, scales, biases := data[:n/2], data[n/2:3*n/4], data[3*n/4:]
		m, err := NewMatrix(words, scales, biases, sdt, r, c, p)
		if err != nil {
			return
		}
		x := make([]float32, m.Cols)
		for i := range x {
			x[i] = float32(i%5) - 2
		}
		dst := make([]float32, m.Rows)
		MatVecRows(dst, x, m, 0, m.Rows)
		_ = m.Dequantize()
		if err := Gather(make([]float32, m.Cols), m, []int64{int64(m.Rows)}); err == nil {
			t.Fatal("out-of-range gather accepted")
		}
	})
}
