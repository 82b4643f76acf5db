// Package sdpa is the sdpa pass: eager attention
//
//	Softmax(MatMul(q, kᵀ)·scale + mask) [· Dropout] · v
//
// becomes SDPA(q, k, v, key_mask, scale, mask) (the seed's :sdpa rewrite,
// MLX's fast scaled_dot_product_attention). With a causal AttentionMask
// the key_mask is the attention_mask input it reads and mask="causal";
// with no mask, mask="none". GQA head repetition (RepeatInterleave on the
// head axis) is stripped from k and v: SDPA handles GQA natively.
//
// As in the seed, sliding-window masks and attention dropout with a rate
// above 0 are not rewritten (a note says so). The rewrite fires even when
// the probabilities are also a graph output (attentions.<i>): they keep
// being computed until attn_weights removes those outputs.
package sdpa

import (
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pass fuses SDPA.
var Pass = &sdk.Pass{
	Name:        "sdpa",
	Version:     "1.0.0",
	Description: "fuse eager attention softmax(q·kᵀ·scale + mask)·v into SDPA (causal or unmasked)",
	Consumes:    []string{"Softmax"}, // Analyze needs one
	Produces:    []string{"SDPA"},
	Rules: []sdk.Rule{{
		Name:    "sdpa",
		Pattern: Pattern(),
		Where: func(m *sdk.Match) bool {
			a, why := Analyze(m.View(), m.Root())
			return a != nil || why != ""
		},
		Check:   check,
		Rewrite: rewrite,
	}},
}

func check(m *sdk.Match) string {
	a, why := Analyze(m.View(), m.Root())
	if a == nil {
		return why
	}
	return Fusable(a)
}

// Fusable returns why attention a cannot be one SDPA, or "".
func Fusable(a *Attention) string {
	if w := a.Window(); w > 0 {
		return sdk.Sprintf("sliding-window attention (window %d) is left alone: SDPA has no window", w)
	}
	if a.DropoutRate > 0 {
		return sdk.Sprintf("attention dropout rate %g > 0 is left alone (training-time dropout, as the seed does)", a.DropoutRate)
	}
	return ""
}

func rewrite(m *sdk.Match, rw *sdk.Rewrite) error {
	a, _ := Analyze(m.View(), m.Root())
	if a == nil {
		return sdk.Errorf("matched attention does not analyse")
	}
	ins := []string{a.Q, a.K, a.V}
	mask := "none"
	if a.Mask != nil {
		ins = append(ins, a.KeyMask())
		if a.Causal() {
			mask = "causal"
		}
	}
	y := rw.Add("SDPA", ins, map[string]graph.Attr{"scale": graph.Float(a.Scale), "mask": graph.String(mask)})
	rw.Replace(m.Root(), y)
	return nil
}
