package validate

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
)

// Affine quantization changes the weights on purpose, so a rewrite to
// QuantizedMatMul cannot equal the graph before it. It is exact, though,
// with respect to the weights it actually uses: the graph before, with every
// quantized source replaced by its dequantized value (scale·q + bias in
// f32), must compute what the rewritten graph computes. lossyReference
// builds that graph; the rest of the validation is unchanged.

// lossyReference returns before with the sources of rw's affine_quantize
// derivations replaced by their dequantized values, or (before, false) when
// rw derives nothing lossy.
func (v *Validator) lossyReference(before *graph.Graph, rw graph.Rewrite) (*graph.Graph, bool, error) {
	ref, replaced, err := dequantizeSources(before, rw.AddInitializers, v.opts.Weights)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrCannotValidate, err)
	}
	return ref, len(replaced) > 0, nil
}

// DequantizedReference is the end-to-end counterpart of the per-rewrite
// check: source (the graph before the passes) with every weight that
// rewritten quantizes (its affine_quantize derivations, before they are
// materialised) replaced by the dequantized value. Comparing rewritten
// against it isolates what the rewrites do from what quantization does.
// It returns source itself and no names when nothing is quantized.
func DequantizedReference(source, rewritten *graph.Graph, ws cpu.WeightSource) (*graph.Graph, []string, error) {
	return dequantizeSources(source, rewritten.Initializers, ws)
}

func dequantizeSources(g *graph.Graph, derived []*graph.Initializer, ws cpu.WeightSource) (*graph.Graph, []string, error) {
	var replaced []string
	attrs := map[string]map[string]graph.Attr{}
	for _, in := range derived {
		if d := in.Derive; d != nil && d.Op == quant.DeriveOp && attrs[d.Source] == nil {
			attrs[d.Source] = d.Attrs
			replaced = append(replaced, d.Source)
		}
	}
	if len(replaced) == 0 {
		return g, nil, nil
	}
	ref := g.Clone()
	for _, name := range replaced {
		in := ref.Initializer(name)
		if in == nil {
			return nil, nil, fmt.Errorf("quantized source %q is not an initializer", name)
		}
		data, err := ws.Bytes(in)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %q: %v", name, err)
		}
		deq, err := dequantized(data, in.Type, attrs[name])
		if err != nil {
			return nil, nil, fmt.Errorf("quantizing %q: %v", name, err)
		}
		in.Type = graph.TensorType{DType: graph.F32, Shape: in.Type.Shape.Clone()}
		in.Data, in.Ref = deq, nil
	}
	return ref, replaced, nil
}

// dequantized quantizes a [rows, cols] weight as the derivation asks and
// returns its dequantized value as f32 bytes, in the source's layout.
func dequantized(data []byte, t graph.TensorType, attrs map[string]graph.Attr) ([]byte, error) {
	p, err := quant.ParamsFromAttrs(attrs)
	if err != nil {
		return nil, err
	}
	dims, ok := t.Shape.Ints()
	if !ok || len(dims) != 2 {
		return nil, fmt.Errorf("source %s is not a static matrix", t)
	}
	rows, cols := int(dims[0]), int(dims[1])
	transpose := attrs["transpose"].Int == 1
	if transpose {
		data = quant.Transpose(data, rows, cols, t.DType.Size())
		rows, cols = cols, rows
	}
	m, err := quant.QuantizeBytes(data, t.DType, rows, cols, p)
	if err != nil {
		return nil, err
	}
	w := m.Dequantize()
	out := make([]byte, 4*len(w))
	for i, f := range w {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	if transpose {
		out = quant.Transpose(out, rows, cols, 4)
	}
	return out, nil
}
