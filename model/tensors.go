package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// tensorKind says how a checkpoint tensor is used, and whether MLX may
// store it quantized.
type tensorKind uint8

const (
	kindParam     tensorKind = iota // norms, biases, learned positions: stored as is
	kindLinear                      // Linear weight [out, in]
	kindConv1D                      // GPT-2 Conv1D weight [in, out] (MLX stores it [out, in])
	kindEmbedding                   // token embedding [vocab, hidden]
)

// tensorSpec is one tensor the config says the checkpoint must hold.
type tensorSpec struct {
	Name   string  // e.g. "model.layers.0.self_attn.q_proj.weight"
	Module string  // e.g. "model.layers.0.self_attn.q_proj" (quantization key)
	Shape  []int64 // Hugging Face layout
	Kind   tensorKind
}

// rowsCols returns a quantizable weight's [out, in] (N, K) view.
func (s tensorSpec) rowsCols() (n, k int64) {
	if s.Kind == kindConv1D {
		return s.Shape[1], s.Shape[0]
	}
	return s.Shape[0], s.Shape[1]
}

func (s tensorSpec) quantizable() bool { return s.Kind != kindParam }

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// tensorSpecs lists the tensors of a checkpoint with config c. prefix is
// GPT-2's module prefix ("transformer.", "model." or ""); the Llama family
// always uses "model.".
func tensorSpecs(c *Config, prefix string) []tensorSpec {
	var out []tensorSpec
	add := func(name string, kind tensorKind, shape ...int64) {
		module := ""
		if kind != kindParam {
			module = strings.TrimSuffix(name, ".weight")
		}
		out = append(out, tensorSpec{Name: name, Module: module, Shape: shape, Kind: kind})
	}
	H, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	qd, kvd := int64(c.NumHeads*c.HeadDim), int64(c.NumKVHeads*c.HeadDim)
	if c.Family == GPT2 {
		p := prefix
		add(p+"wte.weight", kindEmbedding, V, H)
		add(p+"wpe.weight", kindParam, int64(c.MaxPositions), H)
		for i := 0; i < c.NumLayers; i++ {
			l := fmt.Sprintf("%sh.%d.", p, i)
			add(l+"ln_1.weight", kindParam, H)
			add(l+"ln_1.bias", kindParam, H)
			add(l+"attn.c_attn.weight", kindConv1D, H, 3*H)
			add(l+"attn.c_attn.bias", kindParam, 3*H)
			add(l+"attn.c_proj.weight", kindConv1D, H, H)
			add(l+"attn.c_proj.bias", kindParam, H)
			add(l+"ln_2.weight", kindParam, H)
			add(l+"ln_2.bias", kindParam, H)
			add(l+"mlp.c_fc.weight", kindConv1D, H, I)
			add(l+"mlp.c_fc.bias", kindParam, I)
			add(l+"mlp.c_proj.weight", kindConv1D, I, H)
			add(l+"mlp.c_proj.bias", kindParam, H)
		}
		add(p+"ln_f.weight", kindParam, H)
		add(p+"ln_f.bias", kindParam, H)
		if !c.TieWordEmbeddings {
			add("lm_head.weight", kindLinear, V, H)
		}
		return out
	}
	add("model.embed_tokens.weight", kindEmbedding, V, H)
	for i := 0; i < c.NumLayers; i++ {
		l := fmt.Sprintf("model.layers.%d.", i)
		add(l+"input_layernorm.weight", kindParam, H)
		proj := func(name string, out, in int64, bias bool) {
			add(l+name+".weight", kindLinear, out, in)
			if bias {
				add(l+name+".bias", kindParam, out)
			}
		}
		qkvBias := c.AttentionBias || c.QKVBias
		proj("self_attn.q_proj", qd, H, qkvBias)
		proj("self_attn.k_proj", kvd, H, qkvBias)
		proj("self_attn.v_proj", kvd, H, qkvBias)
		proj("self_attn.o_proj", H, qd, c.AttentionBias)
		if c.QKNorm {
			add(l+"self_attn.q_norm.weight", kindParam, int64(c.HeadDim))
			add(l+"self_attn.k_norm.weight", kindParam, int64(c.HeadDim))
		}
		add(l+"post_attention_layernorm.weight", kindParam, H)
		proj("mlp.gate_proj", I, H, c.MLPBias)
		proj("mlp.up_proj", I, H, c.MLPBias)
		proj("mlp.down_proj", H, I, c.MLPBias)
	}
	add("model.norm.weight", kindParam, H)
	if !c.TieWordEmbeddings {
		add("lm_head.weight", kindLinear, V, H)
	}
	return out
}

// weight is a resolved checkpoint tensor: dense, or an MLX quantized triplet.
type weight struct {
	spec  tensorSpec
	dense *graph.Initializer
	quant *quantWeight
	// transposed: a Conv1D weight stored [out, in] (MLX layout).
	transposed bool
}

type quantWeight struct {
	w, scales, biases *graph.Initializer
	bits, group       int
}

// source finds stored tensors; nil for shape-only graphs.
type source interface {
	tensor(name string) (weights.TensorInfo, *graph.WeightRef, bool)
}

// resolveWeights matches the tensors the config implies against what src
// holds (or, with src nil, makes shape-only initializers) and returns them
// by spec name. Every problem is reported, in one error.
func resolveWeights(c *Config, specs []tensorSpec, src source, mlxLayout bool) (map[string]*weight, error) {
	out := make(map[string]*weight, len(specs))
	var problems errs
	for _, s := range specs {
		w, errs := resolveOne(c, s, src, mlxLayout)
		if len(errs) > 0 {
			problems = append(problems, errs...)
			continue
		}
		out[s.Name] = w
	}
	if len(problems) > 0 {
		sort.Slice(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
		return nil, problems.err()
	}
	return out, nil
}

func resolveOne(c *Config, s tensorSpec, src source, mlxLayout bool) (*weight, errs) {
	if src == nil {
		return shapeOnly(c, s), nil
	}
	var problems errs
	bad := problems.addf
	if s.quantizable() {
		_, _, hasScales := src.tensor(s.Module + ".scales")
		_, _, hasBiases := src.tensor(s.Module + ".biases")
		info, _, hasW := src.tensor(s.Name)
		if hasScales || hasBiases || (hasW && info.DType == graph.U32) {
			return resolveQuantized(c, s, src)
		}
	}
	info, ref, ok := src.tensor(s.Name)
	if !ok {
		bad("missing tensor %q", s.Name)
		return nil, problems
	}
	if !info.DType.IsFloat() {
		bad("tensor %q has dtype %s, want a float type", s.Name, info.DType)
	}
	want := s.Shape
	transposed := false
	if s.Kind == kindConv1D && mlxLayout {
		want, transposed = []int64{s.Shape[1], s.Shape[0]}, true
	}
	if !equalShape(info.Shape, want) {
		bad("tensor %q has shape %v, but config.json implies %v", s.Name, info.Shape, want)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	in := &graph.Initializer{Name: s.Name, Type: info.Type(), Ref: ref}
	return &weight{spec: s, dense: in, transposed: transposed}, nil
}

func resolveQuantized(c *Config, s tensorSpec, src source) (*weight, errs) {
	var problems errs
	bad := problems.addf
	if c.Quantization == nil {
		bad("module %q is stored quantized (%s.scales/.biases or a u32 weight) but config.json has no \"quantization\"", s.Module, s.Module)
		return nil, problems
	}
	p, ok := c.Quantization.For(s.Module)
	if !ok {
		bad("module %q is stored quantized but config.json's quantization excludes it", s.Module)
		return nil, problems
	}
	n, k := s.rowsCols()
	q := &quantWeight{bits: p.Bits, group: p.GroupSize}
	get := func(suffix string) *graph.Initializer {
		name := s.Module + "." + suffix
		info, ref, ok := src.tensor(name)
		if !ok {
			bad("missing tensor %q of quantized module %q", name, s.Module)
			return nil
		}
		return &graph.Initializer{Name: name, Type: info.Type(), Ref: ref}
	}
	q.w, q.scales, q.biases = get("weight"), get("scales"), get("biases")
	if k%int64(p.GroupSize) != 0 {
		bad("module %q: group_size %d does not divide its input dim %d", s.Module, p.GroupSize, k)
	}
	if (k*int64(p.Bits))%32 != 0 {
		bad("module %q: input dim %d at %d bits is not a whole number of u32 words", s.Module, k, p.Bits)
	}
	if q.w != nil {
		want := []int64{n, k * int64(p.Bits) / 32}
		shape, _ := q.w.Type.Shape.Ints()
		switch {
		case q.w.Type.DType != graph.U32:
			bad("tensor %q has dtype %s, a quantized weight must be u32", q.w.Name, q.w.Type.DType)
		case len(shape) != 2 || shape[0] != n:
			bad("tensor %q has shape %v, want %v (%d rows of %d values packed at %d bits)", q.w.Name, shape, want, n, k, p.Bits)
		case shape[1] != want[1]:
			bad("tensor %q has %d packed words per row, but %d values at %d bits need %d (wrong bits for this checkpoint?)", q.w.Name, shape[1], k, p.Bits, want[1])
		}
	}
	for _, t := range []*graph.Initializer{q.scales, q.biases} {
		if t == nil {
			continue
		}
		shape, _ := t.Type.Shape.Ints()
		if want := []int64{n, k / int64(p.GroupSize)}; !equalShape(shape, want) {
			bad("tensor %q has shape %v, want %v (group_size %d)", t.Name, shape, want, p.GroupSize)
		}
		if !t.Type.DType.IsFloat() {
			bad("tensor %q has dtype %s, want a float type", t.Name, t.Type.DType)
		}
	}
	if q.scales != nil && q.biases != nil && q.scales.Type.DType != q.biases.Type.DType {
		bad("tensors %q (%s) and %q (%s) must share a dtype", q.scales.Name, q.scales.Type.DType, q.biases.Name, q.biases.Type.DType)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &weight{spec: s, quant: q}, nil
}

// shapeOnly makes weightless initializers for a config-only graph,
// quantized where the config's quantization (as mlx-lm applies it) would.
func shapeOnly(c *Config, s tensorSpec) *weight {
	if s.quantizable() && c.Quantization != nil {
		if p, ok := c.Quantization.For(s.Module); ok {
			n, k := s.rowsCols()
			if k%int64(p.GroupSize) == 0 && (k*int64(p.Bits))%32 == 0 {
				st := graph.T(c.DType, graph.D(n), graph.D(k/int64(p.GroupSize)))
				return &weight{spec: s, quant: &quantWeight{
					w:      &graph.Initializer{Name: s.Module + ".weight", Type: graph.T(graph.U32, graph.D(n), graph.D(k*int64(p.Bits)/32))},
					scales: &graph.Initializer{Name: s.Module + ".scales", Type: st},
					biases: &graph.Initializer{Name: s.Module + ".biases", Type: st},
					bits:   p.Bits, group: p.GroupSize,
				}}
			}
		}
	}
	return &weight{spec: s, dense: &graph.Initializer{Name: s.Name, Type: graph.TensorType{DType: c.DType, Shape: graph.StaticShape(s.Shape...)}}}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
