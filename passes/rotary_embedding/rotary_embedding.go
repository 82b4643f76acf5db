// Package rotary is the rotary_embedding pass: the rotate-half form of
// rotary position embedding on a query or key x [B,H,S,D],
//
//	y = x·cos + concat(-x[..., D/2:], x[..., :D/2])·sin
//	cos, sin = Cos/Sin(concat(f, f)), f = float(positions)[..., None] · inv_freq
//
// becomes RoPE(x, positions, dims=D, traditional=0) (the seed's
// :rotary_embedding rewrite, MLX's fast rope with per-token positions).
// Positions are the integer value the Cast leads back to (the graph's
// position_ids), so left padding and any position scheme stay exact.
//
// Frequencies: when inv_freq is base^(-2k/D) (to f32 rounding; base from the
// graph's rope_theta metadata, or solved from inv_freq[1]) RoPE gets the
// base attribute; with rope_type "llama3" the (precomputed, scaled)
// inv_freq initializer is RoPE's third input. Other scaling types, and
// cos/sin multiplied by an attention scaling ≠ 1 (which RoPE cannot
// absorb), are left alone with a note, as the seed does.
package rotary

import (
	"math"
	"strconv"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pattern matches the rotate-half combination x·cos + rotate_half(x)·sin.
func Pattern() *sdk.Pattern {
	x := sdk.Any("x")
	lo := sdk.Op("Slice", x).As("lo").Where(halfSlice(false))
	hi := sdk.Op("Slice", x).As("hi").Where(halfSlice(true))
	rot := sdk.Op("Concat", sdk.Op("Neg", hi), lo).Where(sdk.OnLastAxis("axis"))
	return sdk.Op("Add",
		sdk.Op("Mul", x, sdk.Any("cos")),
		sdk.Op("Mul", rot, sdk.Any("sin")))
}

// halfSlice checks a Slice takes the first (upper=false) or second half of
// the last axis of a static head dim.
func halfSlice(upper bool) func(v *sdk.View, n *graph.Node) bool {
	last := sdk.OnLastAxis("axes")
	return func(v *sdk.View, n *graph.Node) bool {
		if !last(v, n) {
			return false
		}
		d, ok := v.LastDim(n.Input(0))
		if !ok || !d.Static() || d.Size%2 != 0 {
			return false
		}
		half := d.Size / 2
		starts, ends, steps := n.IntList("starts"), n.IntList("ends"), n.IntList("steps")
		if len(starts) != 1 || len(ends) != 1 || (len(steps) > 0 && (len(steps) != 1 || steps[0] != 1)) {
			return false
		}
		lo, hi := graph.ClampSlice(d.Size, starts[0], ends[0])
		if upper {
			return lo == half && hi == d.Size
		}
		return lo == 0 && hi == half
	}
}

// Pass fuses RoPE.
var Pass = &sdk.Pass{
	Name:        "rotary_embedding",
	Version:     "1.0.0",
	Description: "fuse rotate-half rotary embeddings on q and k into RoPE(x, positions)",
	Consumes:    []string{"Neg"}, // rotate_half negates
	Produces:    []string{"RoPE"},
	Rules: []sdk.Rule{{
		Name:    "rotary_embedding",
		Pattern: Pattern(),
		Where:   func(m *sdk.Match) bool { return m.Value("cos") != m.Value("sin") },
		Check:   check,
		Rewrite: rewrite,
	}},
}

// tables describes where cos and sin come from.
type tables struct {
	positions string  // integer [B,S] value
	invFreq   string  // the f32 [D/2] constant
	scaling   float64 // a Mul on cos/sin, 1 when none
}

// traceTables follows cos and sin back to Cos/Sin(Concat(f, f)) with
// f = Unsqueeze(Cast(positions), 2) · inv_freq, through Unsqueeze(axes=[1])
// and a constant multiply (attention scaling). It returns a reason when
// they are something else.
func traceTables(v *sdk.View, cos, sin string) (*tables, string) {
	t := &tables{scaling: 1}
	var emb [2]string
	for i, val := range []string{cos, sin} {
		op := [2]string{"Cos", "Sin"}[i]
		scale := 1.0
		for depth := 0; depth < 8; depth++ {
			n := v.Producer(val)
			if n == nil {
				return nil, sdk.Sprintf("%s table %s is not computed from positions", op, val)
			}
			switch {
			case n.Op == "Unsqueeze" || n.Op == "Identity" || n.Op == "Reshape":
				val = n.Input(0)
				continue
			case n.Op == "Mul":
				if c, ok := v.Scalar(n.Input(1)); ok {
					scale *= c
					val = n.Input(0)
					continue
				}
				if c, ok := v.Scalar(n.Input(0)); ok {
					scale *= c
					val = n.Input(1)
					continue
				}
			case n.Op == op:
				emb[i] = n.Input(0)
			}
			break
		}
		if emb[i] == "" {
			return nil, sdk.Sprintf("%s table %s is not %s of the position angles", op, val, op)
		}
		if i == 0 {
			t.scaling = scale
		} else if scale != t.scaling {
			return nil, sdk.Sprintf("cos and sin are scaled differently (%g vs %g)", t.scaling, scale)
		}
	}
	if emb[0] != emb[1] {
		return nil, "cos and sin are of different angles"
	}
	cat := v.Producer(emb[0])
	if cat == nil || cat.Op != "Concat" || len(cat.Inputs) != 2 || cat.Inputs[0] != cat.Inputs[1] || !sdk.OnLastAxis("axis")(v, cat) {
		return nil, "angles are not concat(f, f) (rotate-half layout)"
	}
	fr := v.Producer(cat.Inputs[0])
	if fr == nil || fr.Op != "Mul" {
		return nil, "angles are not positions · inv_freq"
	}
	for i := 0; i < 2; i++ {
		pos, inv := fr.Inputs[i], fr.Inputs[1-i]
		c := v.Const(inv)
		if c == nil || c.Type.Shape.Rank() != 1 {
			continue
		}
		// pos = Unsqueeze(Cast(positions), axes=[2]) [B,S,1]
		u := v.Producer(pos)
		if u == nil || u.Op != "Unsqueeze" {
			continue
		}
		src := u.Input(0)
		for depth := 0; depth < 4; depth++ {
			if p := v.Producer(src); p != nil && (p.Op == "Cast" || p.Op == "Identity") {
				if tt, ok := v.Type(src); ok && !tt.DType.IsInt() {
					src = p.Input(0)
					continue
				}
			}
			break
		}
		tt, ok := v.Type(src)
		if !ok || !tt.DType.IsInt() || tt.Shape.Rank() != 2 {
			return nil, sdk.Sprintf("positions %s are not an integer [batch, seq] value", src)
		}
		t.positions, t.invFreq = src, inv
		return t, ""
	}
	return nil, "angles are not integer positions · a constant inv_freq"
}

func check(m *sdk.Match) string {
	_, _, why := plan(m)
	return why
}

// rope is what the RoPE node gets beyond x.
type rope struct {
	attrs  map[string]graph.Attr
	inputs []string // positions [, inv_freq]
}

func plan(m *sdk.Match) (*rope, *tables, string) {
	v := m.View()
	x := m.Value("x")
	xt, _ := v.Type(x)
	if xt.Shape.Rank() != 4 {
		return nil, nil, sdk.Sprintf("x %s is not [batch, heads, seq, head_dim]", xt)
	}
	d := xt.Shape[3].Size
	t, why := traceTables(v, m.Value("cos"), m.Value("sin"))
	if why != "" {
		return nil, nil, why
	}
	if t.scaling != 1 {
		return nil, nil, sdk.Sprintf("cos/sin are multiplied by attention_scaling %g ≠ 1, which RoPE cannot absorb", t.scaling)
	}
	inv := v.Const(t.invFreq)
	if int64(len(inv.Values))*2 != d {
		return nil, nil, sdk.Sprintf("inv_freq has %d frequencies for head_dim %d (partial rotary)", len(inv.Values), d)
	}
	r := &rope{attrs: map[string]graph.Attr{"dims": graph.Int(d), "traditional": graph.Int(0)}, inputs: []string{t.positions}}
	switch typ := v.Meta(graph.MetaRopeType); typ {
	case "llama3":
		r.inputs = append(r.inputs, t.invFreq)
	case "", "default":
		base, ok := baseOf(v, inv.Values, d)
		if ok {
			r.attrs["base"] = graph.Float(base)
		} else {
			// Not base^(-2k/d) after all: the frequencies themselves are exact.
			r.inputs = append(r.inputs, t.invFreq)
		}
	default:
		return nil, nil, sdk.Sprintf("rope_type %q is left alone: only default and llama3 rotary embeddings are rewritten", typ)
	}
	return r, t, ""
}

// baseOf finds the base b with inv_freq[k] = b^(-2k/d) to f32 rounding:
// the graph's rope_theta, else the base solved from inv_freq[1].
func baseOf(v *sdk.View, inv []float64, d int64) (float64, bool) {
	var candidates []float64
	if s := v.Meta(graph.MetaRopeTheta); s != "" {
		if b, err := strconv.ParseFloat(s, 64); err == nil && b > 1 {
			candidates = append(candidates, b)
		}
	}
	if len(inv) > 1 && inv[1] > 0 && inv[1] < 1 {
		b := math.Pow(inv[1], -float64(d)/2)
		candidates = append(candidates, b, math.Round(b))
	}
	for _, b := range candidates {
		if matchesBase(inv, b, d) {
			return b, true
		}
	}
	return 0, false
}

func matchesBase(inv []float64, base float64, d int64) bool {
	for k, f := range inv {
		want := math.Pow(base, -2*float64(k)/float64(d))
		// f32 rounding of the exporter's arithmetic: a few ulps.
		if math.Abs(f-want) > 4*float64(math.Nextafter32(float32(want), 2)-float32(want)) {
			return false
		}
	}
	return true
}

func rewrite(m *sdk.Match, rw *sdk.Rewrite) error {
	r, _, why := plan(m)
	if why != "" {
		rw.Skip("%s", why)
		return nil
	}
	y := rw.Add("RoPE", append([]string{m.Value("x")}, r.inputs...), r.attrs)
	rw.Replace(m.Root(), y)
	return nil
}
