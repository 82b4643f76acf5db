package model

import (
	"fmt"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// buildLlama emits LlamaForCausalLM and its relatives (Qwen2: q/k/v biases;
// Qwen3: q/k RMSNorm per head; Mistral: sliding-window attention), following
// transformers' modeling code op for op.
func (b *builder) buildLlama() {
	c := b.cfg
	x := b.embed("model.embed_tokens", graph.InputIDs)
	if b.opts.HiddenStates {
		x = b.rename(x, graph.HiddenStates(0))
	}
	for i := 0; i < c.NumLayers; i++ {
		b.mask(int64(c.SlidingWindowOf(i)))
	}
	cos, sin := b.rotary()
	for i := 0; i < c.NumLayers; i++ {
		out := ""
		if i+1 < c.NumLayers {
			out = b.hiddenName(i + 1)
		}
		x = b.llamaLayer(i, x, cos, sin, out)
	}
	x = b.rmsNorm("model.norm", x, b.hiddenName(c.NumLayers))
	b.lmHead(x, "model.embed_tokens")
}

// rename gives the value produced by the last node the name out.
func (b *builder) rename(v, out string) string {
	n := b.cur.Nodes[len(b.cur.Nodes)-1]
	if n.Outputs[0] != v {
		panic(buildError("model: rename of a value the last node does not produce"))
	}
	n.Outputs[0] = out
	return out
}

// rotary computes the cos and sin tables [B,1,S,D] shared by every layer
// (LlamaRotaryEmbedding).
func (b *builder) rotary() (cos, sin string) {
	old := b.in("model.rotary_emb")
	defer b.in(old)
	inv := b.f32Init("model.rotary_emb.inv_freq", InvFreq(b.cfg.Rope, b.cfg.HeadDim))
	pf := b.op("Cast", attrs{"to": graph.String("f32")}, graph.PositionIDs)
	p3 := b.op("Unsqueeze", attrs{"axes": graph.Ints(2)}, pf)
	fr := b.op("Mul", nil, p3, inv)
	emb := b.op("Concat", attrs{"axis": graph.Int(-1)}, fr, fr)
	cos = b.op("Unsqueeze", attrs{"axes": graph.Ints(1)}, b.op("Cos", nil, emb))
	sin = b.op("Unsqueeze", attrs{"axes": graph.Ints(1)}, b.op("Sin", nil, emb))
	return cos, sin
}

// applyRotary is apply_rotary_pos_emb for one of q or k ([B,H,S,D]).
func (b *builder) applyRotary(x, cos, sin string) string {
	half := int64(b.cfg.HeadDim / 2)
	x1 := b.op("Slice", attrs{"axes": graph.Ints(-1), "starts": graph.Ints(0), "ends": graph.Ints(half)}, x)
	x2 := b.op("Slice", attrs{"axes": graph.Ints(-1), "starts": graph.Ints(half), "ends": graph.Ints(graph.SliceEnd)}, x)
	rot := b.op("Concat", attrs{"axis": graph.Int(-1)}, b.op("Neg", nil, x2), x1)
	return b.op("Add", nil, b.op("Mul", nil, x, cos), b.op("Mul", nil, rot, sin))
}

func (b *builder) llamaLayer(i int, x, cos, sin, out string) string {
	l := fmt.Sprintf("model.layers.%d", i)
	old := b.in(l)
	defer b.in(old)
	h := b.rmsNorm(l+".input_layernorm", x, "")
	a := b.llamaAttention(i, l+".self_attn", h, cos, sin)
	x = b.op("Add", nil, x, a)
	h = b.rmsNorm(l+".post_attention_layernorm", x, "")
	m := b.llamaMLP(l+".mlp", h)
	return b.emit(out, "Add", nil, x, m)
}

func (b *builder) llamaAttention(i int, module, h, cos, sin string) string {
	c := b.cfg
	old := b.in(module)
	defer b.in(old)
	q := b.heads(b.linear(h, module+".q_proj"), c.NumHeads)
	k := b.heads(b.linear(h, module+".k_proj"), c.NumKVHeads)
	v := b.heads(b.linear(h, module+".v_proj"), c.NumKVHeads)
	if c.QKNorm {
		q = b.rmsNorm(module+".q_norm", q, "")
		k = b.rmsNorm(module+".k_norm", k, "")
	}
	q, k, v = b.transposeHeads(q), b.transposeHeads(k), b.transposeHeads(v)
	q, k = b.applyRotary(q, cos, sin), b.applyRotary(k, cos, sin)
	scale := float32(1 / math.Sqrt(float64(c.HeadDim)))
	o := b.attend(i, q, k, v, func(s string) string { return b.op("Mul", nil, s, b.scalar(scale)) }, int64(c.SlidingWindowOf(i)))
	return b.linear(o, module+".o_proj")
}

func (b *builder) llamaMLP(module, h string) string {
	old := b.in(module)
	defer b.in(old)
	gate := b.linear(h, module+".gate_proj")
	up := b.linear(h, module+".up_proj")
	act := b.op("Mul", nil, b.op("Silu", nil, gate), up)
	return b.linear(act, module+".down_proj")
}
