// Package nativeattention is the native_attention pass: per layer, the
// key/value cache concatenation and the causal attention over it become one
// KVCacheAttention(q, k_new, v_new, key_mask, scale, layer=i) whose cache
// the runtime holds (the seed's :native_attention rewrite). The layer's
// present.<i>.* outputs and past_key_values.<i>.* inputs are removed.
//
// It matches attention fused by sdpa (SDPA nodes) and the unfused eager
// form alike. GQA head repetition is stripped from the new keys and values
// (the runtime cache holds kv heads). Sliding-window and non-causal
// attention fall back with a note, as in the seed; so does a cache that is
// not a plain Concat of the past input and the new keys (a merged decoder's
// If: run if_present first, which the pipeline's expansion of
// native_attention does).
package nativeattention

import (
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk"
)

// Pass moves the KV cache into the runtime.
var Pass = &sdk.Pass{
	Name:        "native_attention",
	Version:     "1.0.0",
	Description: "replace cache concat + causal attention by KVCacheAttention with a runtime-held cache",
	Consumes:    []string{"SDPA", "Softmax"}, // fused or eager attention
	Produces:    []string{"KVCacheAttention"},
	Rules: []sdk.Rule{
		{Name: "fused", Func: func(c *sdk.Context) error { return rewriteAll(c, true) }},
		{Name: "eager", Func: func(c *sdk.Context) error { return rewriteAll(c, false) }},
	},
}

// site is one attention to rewrite.
type site struct {
	root             *graph.Node
	q, keyMask       string
	scale            float64
	causal           bool
	window           int64
	dropout          float64
	kExpand, vExpand string // what the attention reads as keys and values
}

func rewriteAll(c *sdk.Context, fused bool) error {
	v := c.View()
	for _, n := range v.Nodes() {
		if c.Claimed(n) {
			continue
		}
		var s *site
		switch {
		case fused && n.Op == "SDPA":
			s = &site{root: n, q: n.Input(0), kExpand: n.Input(1), vExpand: n.Input(2), keyMask: n.Input(3),
				scale: n.Float("scale"), causal: n.Str("mask") == "causal"}
		case !fused && n.Op == "MatMul":
			a, why := sdpa.Analyze(v, n)
			if a == nil {
				if why != "" {
					c.Note(n.Name, "%s", why)
				}
				continue
			}
			s = &site{root: n, q: a.Q, kExpand: a.KExpanded, vExpand: a.VExpanded, keyMask: a.KeyMask(),
				scale: a.Scale, causal: a.Causal(), window: a.Window(), dropout: a.DropoutRate}
		default:
			continue
		}
		why, err := s.rewrite(c)
		if err != nil {
			return err
		}
		if why != "" {
			c.Note(n.Name, "%s", why)
		}
	}
	return nil
}

// cacheConcat finds Concat(past_key_values.<i>.<kind>, new, axis=2) behind x
// (through a GQA repeat) and returns the concat, the layer and new.
func cacheConcat(v *sdk.View, x, kind string) (*graph.Node, int, string, string) {
	cat := v.Producer(sdpa.StripRepeat(v, x))
	if cat == nil || cat.Op != "Concat" || len(cat.Inputs) != 2 {
		if cat != nil && cat.Op == "If" {
			return nil, 0, "", sdk.Sprintf("the %s cache is updated inside If %s (a merged decoder): run if_present first", kind, cat.Name)
		}
		return nil, 0, "", sdk.Sprintf("the %ss are not a concat of past_key_values.<i>.%s and new %ss", kind, kind, kind)
	}
	t, _ := v.Type(cat.Outputs[0])
	past := cat.Inputs[0]
	if !v.IsInput(past) || sdk.NormAxis(cat.Int("axis"), t.Shape.Rank()) != 2 {
		return nil, 0, "", sdk.Sprintf("the %ss are not a concat of past_key_values.<i>.%s and new %ss along the sequence", kind, kind, kind)
	}
	layer, ok := layerOf(past, kind)
	if !ok {
		return nil, 0, "", sdk.Sprintf("past input %q is not named past_key_values.<i>.%s", past, kind)
	}
	return cat, layer, sdpa.StripRepeat(v, cat.Inputs[1]), ""
}

func layerOf(past, kind string) (int, bool) {
	s, ok := strings.CutPrefix(past, "past_key_values.")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "."+kind)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == s
}

// rewrite commits the rewrite of s, or returns why it is left alone.
func (s *site) rewrite(c *sdk.Context) (string, error) {
	v := c.View()
	switch {
	case s.window > 0:
		return sdk.Sprintf("sliding-window attention (window %d) falls back: KVCacheAttention has no window", s.window), nil
	case !s.causal:
		return "attention is not causal: KVCacheAttention is causal over its cache", nil
	case s.dropout > 0:
		return sdk.Sprintf("attention dropout rate %g > 0 is left alone", s.dropout), nil
	}
	kc, layer, kNew, why := cacheConcat(v, s.kExpand, "key")
	if why != "" {
		return why, nil
	}
	vc, vlayer, vNew, why := cacheConcat(v, s.vExpand, "value")
	if why != "" {
		return why, nil
	}
	if vlayer != layer {
		return sdk.Sprintf("keys come from layer %d's cache and values from layer %d's", layer, vlayer), nil
	}
	if why := sdpa.SameHeads(v, s.q, kNew, vNew); why != "" {
		return why, nil
	}
	// The layer's present outputs go: they must be the caches this
	// attention reads, which the runtime now holds.
	var outs []string
	for i, o := range []string{graph.PresentKey(layer), graph.PresentValue(layer)} {
		if !v.IsOutput(o) {
			continue
		}
		if cat := []*graph.Node{kc, vc}[i]; cat.Outputs[0] != o {
			return sdk.Sprintf("output %s is not the cache the attention reads (%s)", o, cat.Outputs[0]), nil
		}
		outs = append(outs, o)
	}
	dead := v.Dead([]*graph.Node{s.root}, outs)
	for _, past := range []string{kc.Inputs[0], vc.Inputs[0]} {
		if v.ReadBy(past, dead, outs) {
			return sdk.Sprintf("%s is still read after the rewrite (are attentions.%d outputs still there? run attn_weights first)", past, layer), nil
		}
	}
	rw := c.NewRewrite(sdk.Sprintf("KVCacheAttention for layer %d at %s", layer, s.root.Scope)).Scope(s.root.Scope, "")
	if s.root.Scope == "" {
		rw.Scope("", s.root.Name)
	}
	ins := []string{s.q, kNew, vNew}
	if s.keyMask != "" {
		ins = append(ins, s.keyMask)
	}
	y := rw.Add("KVCacheAttention", ins, map[string]graph.Attr{"scale": graph.Float(s.scale), "layer": graph.Int(int64(layer))})
	rw.Replace(s.root, y)
	for _, o := range outs {
		rw.RemoveOutput(o)
	}
	rw.RemoveInput(kc.Inputs[0])
	rw.RemoveInput(vc.Inputs[0])
	for n := range dead {
		if n != s.root {
			rw.Kill(n)
		}
	}
	return "", c.Commit(rw)
}
