package model

import (
	"fmt"
	"math"

	"github.com/graphpass/graphpass/graph"
)

// buildGPT2 emits GPT2LMHeadModel: learned positions, LayerNorm, Conv1D
// projections ([in, out] weights), fused q/k/v projection split by Slice,
// tanh-approximated GELU and the model's Dropout nodes.
func (b *builder) buildGPT2() {
	c := b.cfg
	p := b.prefix
	scope := b.modelScope()
	b.mask(0)
	e := b.embed(p+"wte", graph.InputIDs)
	old := b.in(p + "wpe")
	pos := b.op("Gather", attrs{"axis": graph.Int(0)}, b.param(p+"wpe.weight"), graph.PositionIDs)
	pos = b.toF32(pos, b.weight(p+"wpe.weight").dense.Type.DType)
	b.in(scope)
	x := b.op("Add", nil, e, pos)
	x = b.emit(b.hiddenName(0), "Dropout", attrs{"rate": graph.Float(c.EmbdDropout)}, x)
	b.in(old)
	for i := 0; i < c.NumLayers; i++ {
		out := ""
		if i+1 < c.NumLayers {
			out = b.hiddenName(i + 1)
		}
		x = b.gpt2Block(i, x, out)
	}
	x = b.layerNorm(p+"ln_f", x, b.hiddenName(c.NumLayers))
	b.lmHead(x, p+"wte")
}

func (b *builder) gpt2Block(i int, x, out string) string {
	l := fmt.Sprintf("%sh.%d", b.prefix, i)
	old := b.in(l)
	defer b.in(old)
	h := b.layerNorm(l+".ln_1", x, "")
	a := b.gpt2Attention(i, l+".attn", h)
	x = b.op("Add", nil, a, x)
	h = b.layerNorm(l+".ln_2", x, "")
	m := b.gpt2MLP(l+".mlp", h)
	return b.emit(out, "Add", nil, x, m)
}

func (b *builder) gpt2Attention(i int, module, h string) string {
	c := b.cfg
	old := b.in(module)
	defer b.in(old)
	qkv := b.linear(h, module+".c_attn")
	H := int64(c.HiddenSize)
	split := func(j int64) string {
		end := (j + 1) * H
		if j == 2 {
			end = graph.SliceEnd
		}
		part := b.op("Slice", attrs{"axes": graph.Ints(-1), "starts": graph.Ints(j * H), "ends": graph.Ints(end)}, qkv)
		return b.transposeHeads(b.heads(part, c.NumHeads))
	}
	q, k, v := split(0), split(1), split(2)
	scale := func(s string) string {
		if c.ScaleAttnWeights {
			s = b.op("Div", nil, s, b.scalar(float32(math.Sqrt(float64(c.HeadDim)))))
		}
		if c.ScaleAttnByInverseLayerIdx {
			s = b.op("Div", nil, s, b.scalar(float32(i+1)))
		}
		return s
	}
	o := b.attend(i, q, k, v, scale, 0)
	o = b.linear(o, module+".c_proj")
	return b.op("Dropout", attrs{"rate": graph.Float(c.ResidDropout)}, o)
}

func (b *builder) gpt2MLP(module, h string) string {
	c := b.cfg
	old := b.in(module)
	defer b.in(old)
	fc := b.linear(h, module+".c_fc")
	approx := "tanh"
	if c.HiddenAct == "gelu" {
		approx = "none"
	}
	act := b.op("Gelu", attrs{"approximate": graph.String(approx)}, fc)
	y := b.linear(act, module+".c_proj")
	return b.op("Dropout", attrs{"rate": graph.Float(c.ResidDropout)}, y)
}
