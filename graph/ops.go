package graph

import (
	"math"
)

// The op catalog. Every op's Doc states its exact semantics; the CPU runtime
// (package cpu) is the reference implementation of these definitions and every
// GPU kernel must agree with it. Conventions:
//   - Broadcasting is numpy's. Elementwise results take Promote of the input
//     dtypes, so f32 activations meeting bf16 weights compute and yield f32.
//   - Reductions and softmax accumulate in f32 (f64 for f64 inputs).
//   - Negative axes count from the end.
//   - Masked attention logits get MaskValue added (never -Inf), exactly as
//     Hugging Face transformers does, so a fully masked row stays finite.

// MaskValue is the additive value of a masked attention logit: the lowest
// finite float32, as in transformers' torch.finfo(float32).min.
const MaskValue = -math.MaxFloat32

// SliceEnd is the "to the end" bound for Slice ends (like ONNX's INT64_MAX).
const SliceEnd = math.MaxInt64

func intAttr(v int64) *Attr     { a := Int(v); return &a }
func floatAttr(v float64) *Attr { a := Float(v); return &a }
func strAttr(v string) *Attr    { a := String(v); return &a }

func in1(name string) []Port { return []Port{{Name: name}} }
func out1() []Port           { return []Port{{Name: "y"}} }

func unary(name, doc string) *OpSchema {
	return &OpSchema{Name: name, Doc: doc, Inputs: in1("x"), Outputs: out1(),
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) { return []TensorType{in[0]}, nil }}
}

func binary(name, doc string) *OpSchema {
	return &OpSchema{Name: name, Doc: doc, Inputs: []Port{{Name: "a"}, {Name: "b"}}, Outputs: out1(),
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			s, err := Broadcast(in[0].Shape, in[1].Shape)
			if err != nil {
				return nil, err
			}
			return []TensorType{{Promote(in[0].DType, in[1].DType), s}}, nil
		}}
}

func reduce(name, doc string) *OpSchema {
	return &OpSchema{Name: name, Doc: doc, Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "axes", Kind: AttrInts, Doc: "axes to reduce"},
			{Name: "keepdims", Kind: AttrInt, Default: intAttr(1), Doc: "1 keeps reduced axes as size 1"},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x := in[0]
			red := map[int]bool{}
			for _, a := range n.IntList("axes") {
				ax, err := normAxis(a, x.Shape.Rank())
				if err != nil {
					return nil, err
				}
				red[ax] = true
			}
			var s Shape
			for i, d := range x.Shape {
				switch {
				case !red[i]:
					s = append(s, d)
				case n.Int("keepdims") != 0:
					s = append(s, D(1))
				}
			}
			return []TensorType{{x.DType, s}}, nil
		}}
}

// registerBuiltinOps fills the catalog; ensureCatalog calls it once, on first
// use, so that programs that never look an op up (pass modules) link none
// of the inference code.
func registerBuiltinOps() {
	for _, u := range []struct{ name, doc string }{
		{"Identity", "y = x"},
		{"Neg", "y = -x"},
		{"Abs", "y = |x|"},
		{"Sqrt", "y = sqrt(x)"},
		{"Rsqrt", "y = 1/sqrt(x)"},
		{"Exp", "y = exp(x)"},
		{"Log", "y = ln(x)"},
		{"Sin", "y = sin(x)"},
		{"Cos", "y = cos(x)"},
		{"Tanh", "y = tanh(x)"},
		{"Erf", "y = erf(x)"},
		{"Sigmoid", "y = 1/(1+exp(-x))"},
		{"Silu", "y = x * sigmoid(x) (SiLU / swish)"},
	} {
		register(unary(u.name, u.doc))
	}
	gelu := unary("Gelu", "y = x/2 * (1 + erf(x/sqrt(2))); with approximate=\"tanh\": x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) (GPT-2's gelu_new)")
	gelu.Attrs = []AttrSpec{{Name: "approximate", Kind: AttrString, Default: strAttr("none"), Doc: `"none" or "tanh"`}}
	register(gelu)
	drop := unary("Dropout", "Training-time dropout; at inference y = x whatever the rate. The rate is kept so rewrites can tell a model that trained with dropout.")
	drop.Attrs = []AttrSpec{{Name: "rate", Kind: AttrFloat, Default: floatAttr(0), Doc: "drop probability in training"}}
	register(drop)

	for _, b := range []struct{ name, doc string }{
		{"Add", "y = a + b"}, {"Sub", "y = a - b"}, {"Mul", "y = a * b"}, {"Div", "y = a / b"},
		{"Pow", "y = a ** b"}, {"Max", "y = max(a, b)"}, {"Min", "y = min(a, b)"},
	} {
		register(binary(b.name, b.doc))
	}

	register(reduce("ReduceMean", "mean over axes, accumulated in f32"))
	register(reduce("ReduceSum", "sum over axes, accumulated in f32"))
	register(reduce("ReduceMax", "max over axes"))

	register(&OpSchema{Name: "Softmax", Doc: "y = exp(x - max(x)) / sum(exp(x - max(x))) along axis, computed in f32",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "axis", Kind: AttrInt, Default: intAttr(-1)}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			if _, err := normAxis(n.Int("axis"), in[0].Shape.Rank()); err != nil {
				return nil, err
			}
			return []TensorType{in[0]}, nil
		}})

	register(&OpSchema{Name: "Cast", Doc: "y = x converted to dtype `to` (floats round to nearest even; float to int truncates)",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "to", Kind: AttrString, Doc: "target dtype name (f32, bf16, i64 ...)"}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			dt, err := ParseDType(n.Str("to"))
			if err != nil {
				return nil, err
			}
			return []TensorType{{dt, in[0].Shape}}, nil
		}})

	register(&OpSchema{Name: "Constant", Doc: "y = a constant of dtype and shape; values has one element per element, or a single value that fills the tensor",
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "dtype", Kind: AttrString},
			{Name: "shape", Kind: AttrInts},
			{Name: "values", Kind: AttrFloats},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			dt, err := ParseDType(n.Str("dtype"))
			if err != nil {
				return nil, err
			}
			s := StaticShape(n.IntList("shape")...)
			if k := int64(len(n.Attrs["values"].Floats)); k != 1 && k != s.NumElements() {
				return nil, errf("%d values for shape %s", k, s)
			}
			return []TensorType{{dt, s}}, nil
		}})

	register(&OpSchema{Name: "MatMul",
		Doc:    "y = a · b (numpy matmul: batch dims broadcast; a rank-2 b is shared by every batch). With transpose_b=1, y = a · bᵀ, so a Hugging Face Linear weight [out, in] is used as stored. Accumulates in f32.",
		Inputs: []Port{{Name: "a"}, {Name: "b"}}, Outputs: out1(),
		Attrs: []AttrSpec{{Name: "transpose_b", Kind: AttrInt, Default: intAttr(0)}},
		Infer: inferMatMul})

	register(&OpSchema{Name: "Gather",
		Doc:    "y = data indexed by integer indices along axis: y.shape = data.shape[:axis] + indices.shape + data.shape[axis+1:] (embedding lookup with axis 0)",
		Inputs: []Port{{Name: "data"}, {Name: "indices"}}, Outputs: out1(),
		Attrs: []AttrSpec{{Name: "axis", Kind: AttrInt, Default: intAttr(0)}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			data, idx := in[0], in[1]
			if !idx.DType.IsInt() {
				return nil, errf("indices must be integers, got %s", idx.DType)
			}
			ax, err := normAxis(n.Int("axis"), data.Shape.Rank())
			if err != nil {
				return nil, err
			}
			s := append(append(data.Shape[:ax:ax].Clone(), idx.Shape...), data.Shape[ax+1:]...)
			return []TensorType{{data.DType, s}}, nil
		}})

	register(&OpSchema{Name: "Reshape",
		Doc:    "y = x with a new shape: in `shape`, 0 copies the input dim at the same index and -1 (at most once) takes what is left; all symbolic input dims must be copied with 0",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "shape", Kind: AttrInts}},
		Infer: inferReshape})

	register(&OpSchema{Name: "Transpose", Doc: "y = x with axes permuted: y.shape[i] = x.shape[perm[i]]",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "perm", Kind: AttrInts}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			perm := n.IntList("perm")
			x := in[0]
			if len(perm) != x.Shape.Rank() {
				return nil, errf("perm %v for rank %d", perm, x.Shape.Rank())
			}
			seen := make([]bool, len(perm))
			s := make(Shape, len(perm))
			for i, p := range perm {
				if p < 0 || int(p) >= len(perm) || seen[p] {
					return nil, errf("perm %v is not a permutation", perm)
				}
				seen[p] = true
				s[i] = x.Shape[p]
			}
			return []TensorType{{x.DType, s}}, nil
		}})

	register(&OpSchema{Name: "Unsqueeze", Doc: "y = x with size-1 dims inserted at axes (axes index the output)",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "axes", Kind: AttrInts}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x := in[0]
			rank := x.Shape.Rank() + len(n.IntList("axes"))
			ins := map[int]bool{}
			for _, a := range n.IntList("axes") {
				ax, err := normAxis(a, rank)
				if err != nil {
					return nil, err
				}
				if ins[ax] {
					return nil, errf("axis %d repeated", a)
				}
				ins[ax] = true
			}
			s := make(Shape, 0, rank)
			j := 0
			for i := 0; i < rank; i++ {
				if ins[i] {
					s = append(s, D(1))
				} else {
					s = append(s, x.Shape[j])
					j++
				}
			}
			return []TensorType{{x.DType, s}}, nil
		}})

	register(&OpSchema{Name: "Squeeze", Doc: "y = x without the size-1 dims at axes",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "axes", Kind: AttrInts}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x := in[0]
			drop := map[int]bool{}
			for _, a := range n.IntList("axes") {
				ax, err := normAxis(a, x.Shape.Rank())
				if err != nil {
					return nil, err
				}
				if d := x.Shape[ax]; !(d.Static() && d.Size == 1) && !d.IsUnknown() {
					return nil, errf("cannot squeeze axis %d of size %s", a, d)
				}
				drop[ax] = true
			}
			var s Shape
			for i, d := range x.Shape {
				if !drop[i] {
					s = append(s, d)
				}
			}
			return []TensorType{{x.DType, s}}, nil
		}})

	register(&OpSchema{Name: "Slice",
		Doc:    "y = x[starts:ends:steps] along axes (python semantics: negative bounds count from the end, bounds clamp; SliceEnd means to the end). steps must be positive.",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "axes", Kind: AttrInts},
			{Name: "starts", Kind: AttrInts},
			{Name: "ends", Kind: AttrInts},
			{Name: "steps", Kind: AttrInts, Default: &Attr{Kind: AttrInts}, Doc: "empty means all 1"},
		},
		Infer: inferSlice})

	register(&OpSchema{Name: "Concat", Doc: "y = the inputs joined along axis; other dims must agree",
		Inputs: []Port{{Name: "xs", Variadic: true}}, Outputs: out1(),
		Attrs: []AttrSpec{{Name: "axis", Kind: AttrInt}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			first := in[0]
			ax, err := normAxis(n.Int("axis"), first.Shape.Rank())
			if err != nil {
				return nil, err
			}
			s := first.Shape.Clone()
			for _, t := range in[1:] {
				if t.DType != first.DType {
					return nil, errf("dtype %s vs %s", t.DType, first.DType)
				}
				if t.Shape.Rank() != first.Shape.Rank() {
					return nil, errf("rank %d vs %d", t.Shape.Rank(), first.Shape.Rank())
				}
				for i := range s {
					if i == ax {
						s[i] = s[i].Add(t.Shape[i])
					} else if !s[i].Compatible(t.Shape[i]) {
						return nil, errf("dim %d: %s vs %s", i, s[i], t.Shape[i])
					}
				}
			}
			return []TensorType{{first.DType, s}}, nil
		}})

	register(&OpSchema{Name: "Where", Doc: "y = cond ? a : b, broadcast",
		Inputs: []Port{{Name: "cond"}, {Name: "a"}, {Name: "b"}}, Outputs: out1(),
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			s, err := Broadcast(in[0].Shape, in[1].Shape)
			if err != nil {
				return nil, err
			}
			if s, err = Broadcast(s, in[2].Shape); err != nil {
				return nil, err
			}
			return []TensorType{{Promote(in[1].DType, in[2].DType), s}}, nil
		}})

	register(&OpSchema{Name: "RepeatInterleave",
		Doc:    "y = x with each slice along axis repeated `repeats` times consecutively (torch.repeat_interleave; GQA's repeat_kv on the head axis)",
		Inputs: in1("x"), Outputs: out1(),
		Attrs: []AttrSpec{{Name: "repeats", Kind: AttrInt}, {Name: "axis", Kind: AttrInt}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x := in[0]
			ax, err := normAxis(n.Int("axis"), x.Shape.Rank())
			if err != nil {
				return nil, err
			}
			r := n.Int("repeats")
			if r < 1 {
				return nil, errf("repeats %d < 1", r)
			}
			s := x.Shape.Clone()
			if s[ax].Static() {
				s[ax] = D(s[ax].Size * r)
			} else if r != 1 {
				s[ax] = Unknown
			}
			return []TensorType{{x.DType, s}}, nil
		}})

	register(&OpSchema{Name: "AttentionMask",
		Doc: "Additive attention mask [B,1,S,T] (f32) from a key padding mask attention_mask [B,T] (nonzero = real token) and any tensor `query` whose dim 1 is the query length S (e.g. input_ids [B,S]). " +
			"Query i sits at key position T-S+i (causal aligned lower-right, so cached keys come first). Key j is allowed when attention_mask[b,j] != 0, and, if causal, j <= T-S+i, and, if sliding_window W > 0, j > T-S+i-W. " +
			"Allowed entries are 0, others MaskValue (Hugging Face's causal mask).",
		Inputs:  []Port{{Name: "attention_mask"}, {Name: "query"}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "causal", Kind: AttrInt, Default: intAttr(1)},
			{Name: "sliding_window", Kind: AttrInt, Default: intAttr(0), Doc: "0: no window"},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			m, q := in[0], in[1]
			if m.Shape.Rank() != 2 || q.Shape.Rank() < 2 {
				return nil, errf("attention_mask must be [B,T] and query [B,S,...], got %s and %s", m.Shape, q.Shape)
			}
			return []TensorType{T(F32, m.Shape[0], D(1), q.Shape[1], m.Shape[1])}, nil
		}})

	register(&OpSchema{Name: "If",
		Doc:     "Runs then_branch when the single element of cond (bool or integer) is nonzero, else else_branch; outputs are the chosen branch's outputs. Branches read outer values by name and have no inputs. Output types are the then_branch's; else_branch must agree in dtype and rank.",
		Inputs:  []Port{{Name: "cond"}},
		Outputs: []Port{{Name: "outputs", Variadic: true}},
		Infer:   nil, // set in verify.go: needs the enclosing scope
	})

	// ── fused ops (MLX fast-op semantics) ──────────────────────────────────

	register(&OpSchema{Name: "RMSNorm", Fused: true,
		Doc:    "y = x * rsqrt(mean(x², last axis) + eps) * weight, computed in f32 (mlx.fast.rms_norm); weight has x's last dim",
		Inputs: []Port{{Name: "x"}, {Name: "weight"}}, Outputs: out1(),
		Attrs: []AttrSpec{{Name: "eps", Kind: AttrFloat, Default: floatAttr(1e-6)}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			return normInfer(in[0], in[1:])
		}})

	register(&OpSchema{Name: "LayerNorm", Fused: true,
		Doc:    "y = (x - mean(x)) * rsqrt(var(x) + eps) * weight + bias over the last axis, var biased, computed in f32 (mlx.fast.layer_norm); bias optional",
		Inputs: []Port{{Name: "x"}, {Name: "weight"}, {Name: "bias", Optional: true}}, Outputs: out1(),
		Attrs: []AttrSpec{{Name: "eps", Kind: AttrFloat, Default: floatAttr(1e-5)}},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			ps := []TensorType{in[1]}
			if len(in) > 2 && n.Input(2) != "" {
				ps = append(ps, in[2])
			}
			return normInfer(in[0], ps)
		}})

	register(&OpSchema{Name: "RoPE", Fused: true,
		Doc: "Rotary position embedding of x [B,H,S,D] at integer positions [B,S] (mlx.fast.rope with per-token positions). The first `dims` features rotate, the rest pass through. " +
			"Angle of pair k (k < dims/2) at position p: p * scale * inv_freq[k], with inv_freq[k] = base^(-2k/dims) unless the optional inv_freq input [dims/2] is given (precomputed scaled frequencies, e.g. llama3; note MLX's `freqs` argument is 1/inv_freq). " +
			"traditional=0 rotates halves (x[k], x[k+dims/2]) like rotate_half; traditional=1 rotates adjacent pairs (x[2k], x[2k+1]). Computed in f32.",
		Inputs:  []Port{{Name: "x"}, {Name: "positions"}, {Name: "inv_freq", Optional: true}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "dims", Kind: AttrInt},
			{Name: "base", Kind: AttrFloat, Default: floatAttr(10000)},
			{Name: "traditional", Kind: AttrInt, Default: intAttr(0)},
			{Name: "scale", Kind: AttrFloat, Default: floatAttr(1)},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x, pos := in[0], in[1]
			if x.Shape.Rank() != 4 {
				return nil, errf("x must be [B,H,S,D], got %s", x.Shape)
			}
			if pos.Shape.Rank() != 2 || !pos.DType.IsInt() {
				return nil, errf("positions must be integer [B,S], got %s", pos)
			}
			dims := n.Int("dims")
			d := x.Shape[3]
			if dims <= 0 || dims%2 != 0 || (d.Static() && dims > d.Size) {
				return nil, errf("dims %d invalid for head dim %s", dims, d)
			}
			if len(in) > 2 && n.Input(2) != "" {
				f := in[2]
				if f.Shape.Rank() != 1 || !f.Shape[0].Equal(D(dims/2)) || !f.DType.IsFloat() {
					return nil, errf("inv_freq must be float [%d], got %s", dims/2, f)
				}
			}
			return []TensorType{x}, nil
		}})

	register(&OpSchema{Name: "SDPA", Fused: true,
		Doc: "Scaled dot-product attention (mlx.fast.scaled_dot_product_attention): q [B,Hq,S,D], k [B,Hkv,T,D], v [B,Hkv,T,Dv] → [B,Hq,S,Dv]. " +
			"GQA native: query head h reads kv head h / (Hq/Hkv). logits = q·kᵀ·scale + m, softmax in f32, then ·v. " +
			"m is 0 or MaskValue: with mask=\"causal\", key j is masked for query i when j > T-S+i (aligned lower-right); with the optional key_mask [B,T] input, keys whose key_mask is 0 are masked too. mask=\"none\" and no key_mask: nothing masked.",
		Inputs:  []Port{{Name: "q"}, {Name: "k"}, {Name: "v"}, {Name: "key_mask", Optional: true}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "scale", Kind: AttrFloat},
			{Name: "mask", Kind: AttrString, Default: strAttr("causal"), Doc: `"causal" or "none"`},
		},
		Infer: inferAttention})

	register(&OpSchema{Name: "KVCacheAttention", Fused: true,
		Doc: "Attention over a key/value cache the runtime holds per `layer` (the seed's native attention): appends k [B,Hkv,S,D] and v [B,Hkv,S,Dv] to layer's cache (T = cached + S keys), then computes SDPA(q, cache_k, cache_v, key_mask) with mask=\"causal\". " +
			"key_mask [B,T] is the running attention mask over every cached position. Prefill is the first call (empty cache); each later call is a decode step.",
		Inputs:  []Port{{Name: "q"}, {Name: "k"}, {Name: "v"}, {Name: "key_mask", Optional: true}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "scale", Kind: AttrFloat},
			{Name: "layer", Kind: AttrInt, Doc: "cache slot, unique per attention layer"},
		},
		Infer: inferAttention})

	register(&OpSchema{Name: "SwiGLU", Fused: true,
		Doc:    "y = silu(gate) * up",
		Inputs: []Port{{Name: "gate"}, {Name: "up"}}, Outputs: out1(),
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			if !in[0].Shape.Compatible(in[1].Shape) {
				return nil, errf("gate %s and up %s differ", in[0].Shape, in[1].Shape)
			}
			return []TensorType{{Promote(in[0].DType, in[1].DType), in[0].Shape}}, nil
		}})

	register(&OpSchema{Name: "QuantizedMatMul", Fused: true,
		Doc: "y = x · dequantize(w)ᵀ (mlx.quantized_matmul with transpose=true): x [...,K], packed w u32 [N, K*bits/32], scales and biases [N, K/group_size]. " +
			"Weight element (n,k) = scales[n,k/g] * q + biases[n,k/g], q the bits-wide field of word w[n, k*bits/32] at bit (k*bits)%32 (little-endian packing; for bits 3, 5 and 6 a value may straddle two words). Accumulates in f32.",
		Inputs:  []Port{{Name: "x"}, {Name: "w"}, {Name: "scales"}, {Name: "biases"}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "bits", Kind: AttrInt, Default: intAttr(4)},
			{Name: "group_size", Kind: AttrInt, Default: intAttr(64)},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			x := in[0]
			nOut, k, err := checkQuantized(n, in[1], in[2], in[3])
			if err != nil {
				return nil, err
			}
			if x.Shape.Rank() < 1 || !x.Shape[x.Shape.Rank()-1].Compatible(D(k)) {
				return nil, errf("x %s does not end in K=%d", x.Shape, k)
			}
			s := x.Shape.Clone()
			s[len(s)-1] = D(nOut)
			return []TensorType{{Promote(x.DType, in[2].DType), s}}, nil
		}})

	register(&OpSchema{Name: "QuantizedGather", Fused: true,
		Doc: "y = dequantized rows of an affine-quantized table (quantized embedding): w/scales/biases as in QuantizedMatMul with N rows; y.shape = indices.shape + [K], of the scales' dtype (MLX's dequantize), " +
			"or, with dtype set (e.g. \"f32\"), of that float dtype: each value scale*q+bias is computed in f32 and converted once, as Hugging Face runs dequantized weights and as QuantizedMatMul computes",
		Inputs:  []Port{{Name: "w"}, {Name: "scales"}, {Name: "biases"}, {Name: "indices"}},
		Outputs: out1(),
		Attrs: []AttrSpec{
			{Name: "bits", Kind: AttrInt, Default: intAttr(4)},
			{Name: "group_size", Kind: AttrInt, Default: intAttr(64)},
			{Name: "dtype", Kind: AttrString, Default: strAttr(""), Doc: `output dtype; "" means the scales' dtype`},
		},
		Infer: func(n *Node, in []TensorType) ([]TensorType, error) {
			_, k, err := checkQuantized(n, in[0], in[1], in[2])
			if err != nil {
				return nil, err
			}
			if !in[3].DType.IsInt() {
				return nil, errf("indices must be integers, got %s", in[3].DType)
			}
			dt := in[1].DType
			if name := n.Str("dtype"); name != "" {
				if dt, err = ParseDType(name); err != nil {
					return nil, err
				}
				if !dt.IsFloat() {
					return nil, errf("dtype %s is not a float type", dt)
				}
			}
			s := append(in[3].Shape.Clone(), D(k))
			return []TensorType{{dt, s}}, nil
		}})
}

// QuantBits are the affine bit widths MLX supports and we accept.
var QuantBits = []int64{2, 3, 4, 5, 6, 8}

// QuantGroupSizes are the accepted group sizes.
var QuantGroupSizes = []int64{32, 64, 128}

func checkQuantized(n *Node, w, scales, biases TensorType) (rows, k int64, err error) {
	bits, g := n.Int("bits"), n.Int("group_size")
	if !containsInt(QuantBits, bits) {
		return 0, 0, errf("bits %d not in %v", bits, QuantBits)
	}
	if !containsInt(QuantGroupSizes, g) {
		return 0, 0, errf("group_size %d not in %v", g, QuantGroupSizes)
	}
	if w.DType != U32 || w.Shape.Rank() != 2 || !w.Shape.Static() {
		return 0, 0, errf("packed weight must be static u32 [N, K*bits/32], got %s", w)
	}
	rows, words := w.Shape[0].Size, w.Shape[1].Size
	if (words*32)%bits != 0 {
		return 0, 0, errf("packed width %d words is not a whole number of %d-bit values", words, bits)
	}
	k = words * 32 / bits
	if k%g != 0 {
		return 0, 0, errf("K=%d not divisible by group_size %d", k, g)
	}
	want := StaticShape(rows, k/g)
	if !scales.Shape.Equal(want) || !biases.Shape.Equal(want) {
		return 0, 0, errf("scales %s and biases %s must be %s", scales.Shape, biases.Shape, want)
	}
	if !scales.DType.IsFloat() || biases.DType != scales.DType {
		return 0, 0, errf("scales %s and biases %s must share a float dtype", scales.DType, biases.DType)
	}
	return rows, k, nil
}

func containsInt(xs []int64, v int64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func normInfer(x TensorType, params []TensorType) ([]TensorType, error) {
	if x.Shape.Rank() < 1 {
		return nil, errf("x must have rank >= 1")
	}
	last := x.Shape[x.Shape.Rank()-1]
	dt := x.DType
	for _, p := range params {
		if p.Shape.Rank() != 1 || !p.Shape[0].Compatible(last) {
			return nil, errf("parameter %s must be [%s]", p.Shape, last)
		}
		dt = Promote(dt, p.DType)
	}
	return []TensorType{{dt, x.Shape}}, nil
}

func inferAttention(n *Node, in []TensorType) ([]TensorType, error) {
	q, k, v := in[0], in[1], in[2]
	if q.Shape.Rank() != 4 || k.Shape.Rank() != 4 || v.Shape.Rank() != 4 {
		return nil, errf("q, k, v must be rank 4 [B,H,S,D], got %s %s %s", q.Shape, k.Shape, v.Shape)
	}
	if !q.Shape[3].Compatible(k.Shape[3]) {
		return nil, errf("q head dim %s vs k %s", q.Shape[3], k.Shape[3])
	}
	if !k.Shape[1].Compatible(v.Shape[1]) || !k.Shape[2].Compatible(v.Shape[2]) {
		return nil, errf("k %s and v %s disagree", k.Shape, v.Shape)
	}
	hq, hkv := q.Shape[1], k.Shape[1]
	if hq.Static() && hkv.Static() && (hkv.Size == 0 || hq.Size%hkv.Size != 0) {
		return nil, errf("query heads %d not a multiple of kv heads %d", hq.Size, hkv.Size)
	}
	if m := n.Str("mask"); n.Op == "SDPA" && m != "causal" && m != "none" {
		return nil, errf("mask %q, want causal or none", m)
	}
	if len(in) > 3 && n.Input(3) != "" && in[3].Shape.Rank() != 2 {
		return nil, errf("key_mask must be [B,T], got %s", in[3].Shape)
	}
	s := q.Shape.Clone()
	s[3] = v.Shape[3]
	return []TensorType{{q.DType, s}}, nil
}

func inferMatMul(n *Node, in []TensorType) ([]TensorType, error) {
	a, b := in[0], in[1]
	if a.Shape.Rank() < 1 || b.Shape.Rank() < 2 {
		return nil, errf("matmul needs a rank >= 1 and b rank >= 2, got %s and %s", a.Shape, b.Shape)
	}
	bs := b.Shape.Clone()
	r := len(bs)
	if n.Int("transpose_b") != 0 {
		bs[r-1], bs[r-2] = bs[r-2], bs[r-1]
	}
	as := a.Shape
	vec := false
	if as.Rank() == 1 {
		as, vec = Shape{D(1), as[0]}, true
	}
	ka, kb := as[len(as)-1], bs[r-2]
	if !ka.Compatible(kb) {
		return nil, errf("inner dims differ: %s · %s (transpose_b=%d)", a.Shape, b.Shape, n.Int("transpose_b"))
	}
	batch, err := Broadcast(as[:len(as)-2], bs[:r-2])
	if err != nil {
		return nil, err
	}
	s := append(batch.Clone(), as[len(as)-2], bs[r-1])
	if vec {
		s = append(batch.Clone(), bs[r-1])
	}
	return []TensorType{{Promote(a.DType, b.DType), s}}, nil
}

func inferReshape(n *Node, in []TensorType) ([]TensorType, error) {
	x := in[0]
	target := n.IntList("shape")
	out := make(Shape, len(target))
	copied := map[int]bool{}
	infer := -1
	known := int64(1)
	for i, t := range target {
		switch {
		case t == 0:
			if i >= x.Shape.Rank() {
				return nil, errf("shape %v copies dim %d of rank-%d input", target, i, x.Shape.Rank())
			}
			out[i] = x.Shape[i]
			copied[i] = true
		case t == -1:
			if infer >= 0 {
				return nil, errf("shape %v has two -1", target)
			}
			infer = i
		case t > 0:
			out[i] = D(t)
			known *= t
		default:
			return nil, errf("shape %v has negative dim", target)
		}
	}
	rest := int64(1) // static product of input dims not copied
	for i, d := range x.Shape {
		if copied[i] {
			continue
		}
		if !d.Static() {
			if infer >= 0 || !d.IsUnknown() {
				return nil, errf("reshape of %s to %v leaves symbolic dim %d uncopied", x.Shape, target, i)
			}
			return []TensorType{{x.DType, out}}, nil
		}
		rest *= d.Size
	}
	if infer >= 0 {
		if known == 0 || rest%known != 0 {
			return nil, errf("cannot reshape %s to %v", x.Shape, target)
		}
		out[infer] = D(rest / known)
	} else if rest != known {
		return nil, errf("cannot reshape %s (%d elements outside copied dims) to %v (%d)", x.Shape, rest, target, known)
	}
	return []TensorType{{x.DType, out}}, nil
}

func inferSlice(n *Node, in []TensorType) ([]TensorType, error) {
	x := in[0]
	axes, starts, ends, steps := n.IntList("axes"), n.IntList("starts"), n.IntList("ends"), n.IntList("steps")
	if len(starts) != len(axes) || len(ends) != len(axes) || (len(steps) != 0 && len(steps) != len(axes)) {
		return nil, errf("axes/starts/ends/steps lengths differ")
	}
	s := x.Shape.Clone()
	for i, a := range axes {
		ax, err := normAxis(a, x.Shape.Rank())
		if err != nil {
			return nil, err
		}
		step := int64(1)
		if len(steps) > 0 {
			step = steps[i]
		}
		if step <= 0 {
			return nil, errf("step %d must be positive", step)
		}
		s[ax] = SliceDim(s[ax], starts[i], ends[i], step)
	}
	return []TensorType{{x.DType, s}}, nil
}

// SliceDim is the size of d[start:end:step] under Slice's rules. For a
// symbolic d it is exact for [k:] (d-k) and [-k:] (k, assuming d >= k), else Unknown.
func SliceDim(d Dim, start, end, step int64) Dim {
	if d.Static() {
		lo, hi := ClampSlice(d.Size, start, end)
		if hi <= lo {
			return D(0)
		}
		return D((hi - lo + step - 1) / step)
	}
	if step != 1 || end != SliceEnd {
		return Unknown
	}
	if start < 0 {
		return D(-start)
	}
	return d.Sub(D(start))
}

// ClampSlice resolves python-style bounds against a dim of size n.
func ClampSlice(n, start, end int64) (lo, hi int64) {
	clamp := func(v int64) int64 {
		if v < 0 {
			v += n
		}
		if v < 0 {
			return 0
		}
		if v > n {
			return n
		}
		return v
	}
	return clamp(start), clamp(end)
}
