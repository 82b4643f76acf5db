package cpu

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["QuantizedMatMul"] = buildQuantizedMatMul
	builders["QuantizedGather"] = buildQuantizedGather
}

// quantMatrix views packed words, scales and biases as a quant.Matrix
// (no copy; the words must be 4-byte aligned, which tensors are).
func quantMatrix(w, scales, biases *tensor.Tensor, p quant.Params) (*quant.Matrix, error) {
	if w.DType != graph.U32 || w.Rank() != 2 {
		return nil, fmt.Errorf("packed weight must be u32 [N, K*bits/32], got %s%v", w.DType, w.Shape)
	}
	cols, err := p.ColsFromPacked(w.Shape[1])
	if err != nil {
		return nil, err
	}
	if scales.DType != biases.DType {
		return nil, fmt.Errorf("scales %s and biases %s differ in dtype", scales.DType, biases.DType)
	}
	return quant.NewMatrix(w.Bytes(), scales.Bytes(), biases.Bytes(), scales.DType, w.Shape[0], cols, p)
}

// quantOperands returns a kernel-time accessor for the quantized matrix of
// inputs [wi, wi+1, wi+2], built once when all three are initializers.
func quantOperands(c *compiler, n *graph.Node, wi int, p quant.Params) (func(in []*tensor.Tensor) (*quant.Matrix, error), error) {
	w, s, b := c.constant(n.Input(wi)), c.constant(n.Input(wi+1)), c.constant(n.Input(wi+2))
	if w != nil && s != nil && b != nil {
		m, err := quantMatrix(w, s, b, p)
		if err != nil {
			return nil, err
		}
		return func([]*tensor.Tensor) (*quant.Matrix, error) { return m, nil }, nil
	}
	return func(in []*tensor.Tensor) (*quant.Matrix, error) {
		return quantMatrix(in[wi], in[wi+1], in[wi+2], p)
	}, nil
}

func quantParams(n *graph.Node) (quant.Params, error) {
	p := quant.Params{Bits: int(n.Int("bits")), GroupSize: int(n.Int("group_size"))}
	return p, p.Validate()
}

func buildQuantizedMatMul(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	p, err := quantParams(n)
	if err != nil {
		return nil, err
	}
	get, err := quantOperands(c, n, 1, p)
	if err != nil {
		return nil, err
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		m, err := get(in)
		if err != nil {
			return nil, err
		}
		x := in[0]
		if x.Rank() < 1 || x.Shape[x.Rank()-1] != m.Cols {
			return nil, fmt.Errorf("x %v does not end in K=%d", x.Shape, m.Cols)
		}
		shape := append([]int(nil), x.Shape...)
		shape[len(shape)-1] = m.Rows
		xf, tmp := e.asF32(x)
		out := e.alloc(graph.F32, shape...)
		rows := x.Len() / max(m.Cols, 1)
		xv, y := xf.F32(), out.F32()
		// x is encoded once, before the rows are split over threads
		// (which would otherwise wait for the first to encode it), and
		// projections of the same x share the encoding.
		if rows > 0 {
			prep := quant.PrepareInput(xv, rows, m)
			// One token: one contiguous half (third, ...) of the rows per
			// thread, so that each streams its share in one run that its
			// prefetches cover (finer dynamic chunks measured 5-8% slower).
			grain := 32
			if rows == 1 {
				grain = max(grain, m.Rows/e.p.threads)
			}
			e.parallel(m.Rows, grain, func(lo, hi int) { prep.MatMulRows(y, m, lo, hi) })
			prep.Release()
		}
		if tmp {
			e.free(xf)
		}
		return e.toDType(out, graph.Promote(x.DType, in[2].DType)), nil
	}, nil
}

func buildQuantizedGather(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	p, err := quantParams(n)
	if err != nil {
		return nil, err
	}
	get, err := quantOperands(c, n, 0, p)
	if err != nil {
		return nil, err
	}
	// The output dtype: the "dtype" attribute when set (graph/ops_model.go),
	// else the scales' dtype (MLX's dequantize).
	var outT graph.DType
	if name := n.Str("dtype"); name != "" {
		if outT, err = graph.ParseDType(name); err != nil {
			return nil, err
		}
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		m, err := get(in)
		if err != nil {
			return nil, err
		}
		idx := in[3]
		ids := make([]int64, idx.Len())
		for i := range ids {
			ids[i] = idx.Int64At(i)
			if ids[i] < 0 {
				ids[i] += int64(m.Rows)
			}
		}
		shape := append(append([]int(nil), idx.Shape...), m.Cols)
		out := e.alloc(graph.F32, shape...)
		if err := quant.Gather(out.F32(), m, ids); err != nil {
			e.free(out)
			return nil, err
		}
		dt := outT
		if dt == graph.InvalidDType {
			dt = in[1].DType
		}
		return e.toDType(out, dt), nil
	}, nil
}
