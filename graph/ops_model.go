package graph

// Additions to the op catalog made for the model builders (package model).

func init() {
	// QuantizedGather's output defaults to the scales' dtype (MLX's
	// dequantize), which rounds every dequantized value to bf16 for bf16
	// scales. An f32 model reads the table at full precision instead, as
	// Hugging Face runs dequantized weights and as QuantizedMatMul already
	// computes: dtype="f32" asks for that.
	s, _ := Lookup("QuantizedGather")
	s.Doc += `. With dtype set (e.g. "f32"), y has that float dtype: each value scale*q+bias is computed in f32 and converted once.`
	s.Attrs = append(s.Attrs, AttrSpec{Name: "dtype", Kind: AttrString, Default: strAttr(""), Doc: `output dtype; "" means the scales' dtype`})
	infer := s.Infer
	s.Infer = func(n *Node, in []TensorType) ([]TensorType, error) {
		out, err := infer(n, in)
		if err != nil {
			return nil, err
		}
		if name := n.Str("dtype"); name != "" {
			dt, err := ParseDType(name)
			if err != nil {
				return nil, err
			}
			if !dt.IsFloat() {
				return nil, errf("dtype %s is not a float type", dt)
			}
			out[0].DType = dt
		}
		return out, nil
	}
}
