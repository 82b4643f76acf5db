package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/graphpass/graphpass/graph"
)

// Quantize quantizes a row-major [rows, cols] matrix with MLX's affine
// algorithm (see the package comment), storing scales and biases as
// scaleType (the source weight's dtype in a checkpoint: bf16, f16 or f32).
// Values are taken as given: for a bf16 or f16 weight pass its exact f32
// widening (QuantizeBytes does that).
func Quantize(w []float32, rows, cols int, p Params, scaleType graph.DType) (*Matrix, error) {
	if err := p.CheckDims(rows, cols); err != nil {
		return nil, err
	}
	if err := checkScaleType(scaleType); err != nil {
		return nil, err
	}
	if len(w) != rows*cols {
		return nil, fmt.Errorf("%w: %d values for [%d, %d]", ErrShape, len(w), rows, cols)
	}
	m := allocMatrix(rows, cols, p, scaleType)
	for r := 0; r < rows; r++ {
		m.quantizeRow(r, w[r*cols:(r+1)*cols])
	}
	return m, nil
}

// QuantizeBytes quantizes a row-major [rows, cols] matrix given as the
// little-endian bytes of dtype dt (bf16, f16 or f32, as stored in a
// safetensors file); scales and biases get dtype dt, as MLX stores them.
// It converts one row at a time, so the source is never copied whole, and
// splits large matrices over the available CPUs.
func QuantizeBytes(data []byte, dt graph.DType, rows, cols int, p Params) (*Matrix, error) {
	if err := p.CheckDims(rows, cols); err != nil {
		return nil, err
	}
	if err := checkScaleType(dt); err != nil {
		return nil, fmt.Errorf("%w: cannot quantize a %s weight", ErrParams, dt)
	}
	if want := rows * cols * dt.Size(); len(data) != want {
		return nil, fmt.Errorf("%w: %d bytes for %s [%d, %d], want %d", ErrShape, len(data), dt, rows, cols, want)
	}
	m := allocMatrix(rows, cols, p, dt)
	rowBytes := cols * dt.Size()
	// Rows are independent: large matrices are split over the CPUs (the
	// result does not depend on the split).
	workers := 1
	if rows*cols >= 1<<20 {
		workers = min(runtime.GOMAXPROCS(0), rows)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		r0, r1 := rows*w/workers, rows*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := make([]float32, cols)
			for r := r0; r < r1; r++ {
				DecodeRow(row, data[r*rowBytes:(r+1)*rowBytes], dt)
				m.quantizeRow(r, row)
			}
		}()
	}
	wg.Wait()
	return m, nil
}

// DecodeRow widens one row of little-endian bf16, f16 or f32 bytes to f32.
func DecodeRow(dst []float32, b []byte, dt graph.DType) {
	switch dt {
	case graph.BF16:
		for i := range dst {
			dst[i] = bf16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case graph.F16:
		for i := range dst {
			dst[i] = f16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
}

func allocMatrix(rows, cols int, p Params, dt graph.DType) *Matrix {
	groups := rows * cols / p.GroupSize
	return &Matrix{
		Rows: rows, Cols: cols, Params: p,
		Words:     make([]uint32, rows*p.PackedWidth(cols)),
		Scales:    make([]byte, groups*dt.Size()),
		Biases:    make([]byte, groups*dt.Size()),
		ScaleType: dt,
	}
}

// quantizeRow quantizes row r from its f32 values. The arithmetic is MLX's
// CPU kernel (mlx/backend/cpu/quantized.cpp, quantize<T,U>) step by step in
// float32: Go never fuses these operations (no multiply-add appears), so the
// results are bit-identical on every architecture.
func (m *Matrix) quantizeRow(r int, w []float32) {
	g := m.GroupSize
	nBins := float32(m.Levels())
	gpr := m.Cols / g
	var buf [128]uint8
	codes := buf[:g]
	for j := 0; j < gpr; j++ {
		grp := w[j*g : (j+1)*g]
		scale, bias := groupScaleBias(grp, nBins)
		for k, v := range grp {
			q := rint((v - bias) / scale)
			if !(q > 0) { // also NaN, which C's clamp leaves undefined
				q = 0
			} else if q > nBins {
				q = nBins
			}
			codes[k] = uint8(q)
		}
		m.packGroup(r, j, codes)
		storeScalar(m.Scales, m.ScaleType, r*gpr+j, scale)
		storeScalar(m.Biases, m.ScaleType, r*gpr+j, bias)
	}
}

// groupScaleBias is MLX's choice of scale and bias for one group: the
// range is spread over nBins steps, and the endpoint of larger magnitude
// (the "edge") is made exactly representable, so zero-centred groups keep
// their extreme value exactly. The returned pair is f32 (quantization uses
// these values; the stored, rounded ones are used to dequantize).
func groupScaleBias(grp []float32, nBins float32) (scale, bias float32) {
	wMin := float32(math.Inf(1))
	wMax := float32(math.Inf(-1))
	for _, v := range grp { // std::max/std::min: a NaN never wins
		if wMax < v {
			wMax = v
		}
		if v < wMin {
			wMin = v
		}
	}
	const eps = 1e-7
	neg := abs32(wMin) > abs32(wMax)
	scale = (wMax - wMin) / nBins
	if scale < eps {
		scale = eps
	}
	edge := wMax
	if neg {
		edge = wMin
	} else {
		scale = -scale
	}
	q0 := rint(edge / scale)
	if q0 != 0 {
		scale = edge / q0
		bias = edge
	}
	return scale, bias
}

// rint rounds half to even, like C's rint in the default rounding mode.
func rint(f float32) float32 { return float32(math.RoundToEven(float64(f))) }

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
