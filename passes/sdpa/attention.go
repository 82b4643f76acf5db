package sdpa

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Attention is eager attention found in a graph:
//
//	out = MatMul(Dropout?(Softmax(MatMul(q, kᵀ)·scale + mask)), v)
//
// with kᵀ a Transpose(k, [0,1,3,2]) or transpose_b=1, the scale a chain of
// Mul/Div by constants, and the mask an AttentionMask node or absent.
type Attention struct {
	Root    *graph.Node // the MatMul(probs, v)
	Softmax *graph.Node
	Q, K, V string // K and V with GQA head repetition stripped
	// KExpanded and VExpanded are K and V before stripping (the values the
	// scores actually read).
	KExpanded, VExpanded string
	Scale                float64
	Mask                 *graph.Node // the AttentionMask, nil when unmasked
	DropoutRate          float64
}

// Causal reports whether the mask is causal.
func (a *Attention) Causal() bool { return a.Mask != nil && a.Mask.Int("causal") != 0 }

// Window returns the mask's sliding window (0: none).
func (a *Attention) Window() int64 {
	if a.Mask == nil {
		return 0
	}
	return a.Mask.Int("sliding_window")
}

// KeyMask returns the [B,T] key padding mask the AttentionMask reads.
func (a *Attention) KeyMask() string {
	if a.Mask == nil {
		return ""
	}
	return a.Mask.Input(0)
}

// Pattern matches the value product of attention; Analyze does the rest.
func Pattern() *sdk.Pattern {
	probs := sdk.Op("Softmax", sdk.Any("logits")).As("softmax").Where(sdk.OnLastAxis("axis"))
	return sdk.Op("MatMul", sdk.Op("Dropout", probs).As("dropout").Optional(), sdk.Any("v")).
		Attr("transpose_b", graph.Int(0))
}

// Analyze recognises the attention whose value product is root (a MatMul).
// It returns nil and "" when root is not attention at all, nil and a
// reason when it is attention of a form the fused ops cannot express.
func Analyze(v *sdk.View, root *graph.Node) (*Attention, string) {
	if root.Op != "MatMul" || root.Int("transpose_b") != 0 || len(root.Inputs) != 2 {
		return nil, ""
	}
	a := &Attention{Root: root, Scale: 1, VExpanded: root.Inputs[1]}
	p := v.Producer(root.Inputs[0])
	if p != nil && p.Op == "Dropout" {
		a.DropoutRate = p.Float("rate")
		p = v.Producer(p.Input(0))
	}
	if p == nil || p.Op != "Softmax" || !sdk.OnLastAxis("axis")(v, p) {
		return nil, ""
	}
	a.Softmax = p
	s := p.Input(0)
	if n := v.Producer(s); n != nil && n.Op == "Add" {
		for i := 0; i < 2; i++ {
			if m := v.Producer(n.Inputs[i]); m != nil && m.Op == "AttentionMask" {
				a.Mask, s = m, n.Inputs[1-i]
				break
			}
		}
		if a.Mask == nil {
			if isScores(v, n.Inputs[0]) || isScores(v, n.Inputs[1]) {
				return nil, sdk.Sprintf("scores get an additive mask that is not an AttentionMask (%s)", n.Name)
			}
			return nil, ""
		}
	}
	// The scale: a chain of Mul/Div by constants.
	for depth := 0; depth < 4; depth++ {
		n := v.Producer(s)
		if n == nil {
			break
		}
		if n.Op == "Mul" {
			if c, ok := v.Scalar(n.Inputs[1]); ok {
				a.Scale *= c
				s = n.Inputs[0]
				continue
			}
			if c, ok := v.Scalar(n.Inputs[0]); ok {
				a.Scale *= c
				s = n.Inputs[1]
				continue
			}
		}
		if n.Op == "Div" {
			if c, ok := v.Scalar(n.Inputs[1]); ok && c != 0 {
				a.Scale /= c
				s = n.Inputs[0]
				continue
			}
		}
		break
	}
	mm := v.Producer(s)
	if mm == nil || mm.Op != "MatMul" {
		return nil, ""
	}
	a.Q = mm.Inputs[0]
	if mm.Int("transpose_b") != 0 {
		a.KExpanded = mm.Inputs[1]
	} else {
		t := v.Producer(mm.Inputs[1])
		if t == nil || t.Op != "Transpose" || !slices.Equal(t.IntList("perm"), []int64{0, 1, 3, 2}) {
			return nil, ""
		}
		a.KExpanded = t.Input(0)
	}
	for _, x := range []string{a.Q, a.KExpanded, a.VExpanded} {
		if t, ok := v.Type(x); !ok || t.Shape.Rank() != 4 {
			return nil, ""
		}
	}
	a.K, a.V = StripRepeat(v, a.KExpanded), StripRepeat(v, a.VExpanded)
	if why := SameHeads(v, a.Q, a.K, a.V); why != "" {
		// Strip neither repeat, or give up when even the values the scores
		// read do not fit one attention.
		a.K, a.V = a.KExpanded, a.VExpanded
		if why := SameHeads(v, a.Q, a.K, a.V); why != "" {
			return nil, why
		}
	}
	return a, ""
}

// SameHeads checks q [B,Hq,S,D], k [B,Hkv,T,D] and v [B,Hkv,T,Dv] are one
// attention with GQA: equal batch, k and v heads and lengths equal, Hq a
// multiple of Hkv. It returns what is wrong, or "".
func SameHeads(v *sdk.View, q, k, val string) string {
	qt, _ := v.Type(q)
	kt, _ := v.Type(k)
	vt, _ := v.Type(val)
	if qt.Shape.Rank() != 4 || kt.Shape.Rank() != 4 || vt.Shape.Rank() != 4 {
		return "q, k and v are not all [batch, heads, seq, head_dim]"
	}
	if !qt.Shape[0].Equal(kt.Shape[0]) || !kt.Shape[0].Equal(vt.Shape[0]) {
		return sdk.Sprintf("q, k and v differ in batch (%s, %s, %s)", qt.Shape[0], kt.Shape[0], vt.Shape[0])
	}
	if !kt.Shape[1].Equal(vt.Shape[1]) || !kt.Shape[2].Equal(vt.Shape[2]) {
		return sdk.Sprintf("keys %s and values %s differ in heads or length", kt.Shape, vt.Shape)
	}
	hq, hkv := qt.Shape[1], kt.Shape[1]
	if !hq.Equal(hkv) && !(hq.Static() && hkv.Static() && hkv.Size > 0 && hq.Size%hkv.Size == 0) {
		return sdk.Sprintf("%s query heads are not a multiple of %s key heads", hq, hkv)
	}
	return ""
}

// isScores reports whether x looks like attention scores: a rank-4 value.
func isScores(v *sdk.View, x string) bool {
	t, ok := v.Type(x)
	return ok && t.Shape.Rank() == 4
}

// StripRepeat returns x without a GQA head repetition
// (RepeatInterleave on axis 1), or x itself.
func StripRepeat(v *sdk.View, x string) string {
	n := v.Producer(x)
	if n != nil && n.Op == "RepeatInterleave" {
		if t, ok := v.Type(n.Input(0)); ok && sdk.NormAxis(n.Int("axis"), t.Shape.Rank()) == 1 {
			return n.Input(0)
		}
	}
	return x
}
