package quant

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// DeriveOp is the graph.Derivation op this package computes: MLX affine
// quantization of a rank-2 float initializer [N, K] with Int attrs "bits"
// and "group_size". Output 0 is the packed weight (u32 [N, K·bits/32]),
// 1 the scales and 2 the biases ([N, K/group_size], the source dtype).
// With Int attr "transpose" = 1 the source is [K, N] (a GPT-2 Conv1D
// weight) and its transpose is quantized. The quantize pass requests it;
// weights.Materialize computes it.
const DeriveOp = "affine_quantize"

func init() { weights.RegisterDeriver(DeriveOp, derive) }

// ParamsFromAttrs reads bits and group_size from derivation or node
// attributes, defaulting to MLX's 4 and 64 where absent.
func ParamsFromAttrs(attrs map[string]graph.Attr) (Params, error) {
	p := Default
	for name, dst := range map[string]*int{"bits": &p.Bits, "group_size": &p.GroupSize} {
		if a, ok := attrs[name]; ok {
			if a.Kind != graph.AttrInt {
				return p, fmt.Errorf("%w: attribute %q is %s, want int", ErrParams, name, a.Kind)
			}
			*dst = int(a.Int)
		}
	}
	return p, p.Validate()
}

// OutputTypes are the types of a derivation's three outputs for a source
// of type src (what a pass declares for the new initializers).
func OutputTypes(src graph.TensorType, p Params) ([3]graph.TensorType, error) {
	var out [3]graph.TensorType
	if src.Shape.Rank() != 2 || !src.Shape.Static() {
		return out, fmt.Errorf("%w: source must be a static rank-2 [out, in] matrix, got %s", ErrShape, src)
	}
	rows, cols := src.Shape[0].Size, src.Shape[1].Size
	if err := p.CheckDims(int(rows), int(cols)); err != nil {
		return out, err
	}
	if err := checkScaleType(src.DType); err != nil {
		return out, fmt.Errorf("%w: cannot quantize a %s weight", ErrParams, src.DType)
	}
	out[0] = graph.T(graph.U32, graph.D(rows), graph.D(int64(p.PackedWidth(int(cols)))))
	out[1] = graph.T(src.DType, graph.D(rows), graph.D(cols/int64(p.GroupSize)))
	out[2] = out[1]
	return out, nil
}

func derive(src weights.Tensor, attrs map[string]graph.Attr) ([]weights.Tensor, error) {
	p, err := ParamsFromAttrs(attrs)
	if err != nil {
		return nil, err
	}
	data, typ := src.Data, src.Type
	if a, ok := attrs["transpose"]; ok && (a.Kind != graph.AttrInt || a.Int != 0) {
		if a.Kind != graph.AttrInt || a.Int != 1 {
			return nil, fmt.Errorf("%w: attribute \"transpose\" must be int 0 or 1", ErrParams)
		}
		if typ.Shape.Rank() != 2 || !typ.Shape.Static() || int64(len(data)) != typ.ByteSize() {
			return nil, fmt.Errorf("%w: source must be a static rank-2 matrix, got %s", ErrShape, typ)
		}
		data = Transpose(data, int(typ.Shape[0].Size), int(typ.Shape[1].Size), typ.DType.Size())
		typ = graph.T(typ.DType, typ.Shape[1], typ.Shape[0])
	}
	types, err := OutputTypes(typ, p)
	if err != nil {
		return nil, err
	}
	m, err := QuantizeBytes(data, typ.DType, int(typ.Shape[0].Size), int(typ.Shape[1].Size), p)
	if err != nil {
		return nil, err
	}
	return []weights.Tensor{
		{Type: types[0], Data: m.WordBytes()},
		{Type: types[1], Data: m.Scales},
		{Type: types[2], Data: m.Biases},
	}, nil
}

// Transpose returns the transpose of a row-major [rows, cols] matrix of
// elemSize-byte elements, as a new [cols, rows] byte slice.
func Transpose(data []byte, rows, cols, elemSize int) []byte {
	out := make([]byte, len(data))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			copy(out[(c*rows+r)*elemSize:(c*rows+r+1)*elemSize], data[(r*cols+c)*elemSize:(r*cols+c+1)*elemSize])
		}
	}
	return out
}
