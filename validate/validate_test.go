package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// gb builds test graphs value by value.
type gb struct {
	g *graph.Graph
	n int
}

func newGB() *gb { return &gb{g: &graph.Graph{Name: "test", Metadata: map[string]string{}}} }

func (b *gb) input(name string, t graph.TensorType) string {
	b.g.Inputs = append(b.g.Inputs, graph.ValueInfo{Name: name, Type: t})
	return name
}

func (b *gb) init(name string, t *tensor.Tensor) string {
	b.g.Initializers = append(b.g.Initializers, &graph.Initializer{Name: name, Type: t.Type(), Data: t.Bytes()})
	return name
}

func (b *gb) node(op string, a map[string]graph.Attr, ins ...string) *graph.Node {
	b.n++
	n := &graph.Node{Name: fmt.Sprintf("%s%d", op, b.n), Op: op, Attrs: a, Inputs: ins, Outputs: []string{fmt.Sprintf("v%d", b.n)}}
	b.g.Nodes = append(b.g.Nodes, n)
	return n
}

func (b *gb) op(op string, a map[string]graph.Attr, ins ...string) string {
	return b.node(op, a, ins...).Outputs[0]
}

func at(kv ...any) map[string]graph.Attr {
	m := map[string]graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(graph.Attr)
	}
	return m
}

// rmsGraph is x → RMSNorm (primitive form) → Tanh → output, returning the
// nodes of the norm.
func rmsGraph() (*graph.Graph, []*graph.Node, string) {
	b := newGB()
	x := b.input("x", graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(16)))
	r := tensor.NewRand(3)
	w := b.init("w", tensor.RandUniform(r, 0.5, 1.5, 16).Convert(graph.BF16))
	n1 := b.node("Pow", nil, x, b.init("two", tensor.Scalar(2)))
	n2 := b.node("ReduceMean", at("axes", graph.Ints(-1), "keepdims", graph.Int(1)), n1.Outputs[0])
	n3 := b.node("Add", nil, n2.Outputs[0], b.init("eps", tensor.Scalar(1e-6)))
	n4 := b.node("Rsqrt", nil, n3.Outputs[0])
	n5 := b.node("Mul", nil, x, n4.Outputs[0])
	n6 := b.node("Mul", nil, w, n5.Outputs[0])
	y := b.op("Tanh", nil, n6.Outputs[0])
	b.g.Outputs = []graph.ValueInfo{{Name: y}}
	return b.g, []*graph.Node{n1, n2, n3, n4, n5, n6}, w
}

func names(ns []*graph.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestLocalRewrites(t *testing.T) {
	g, norm, w := rmsGraph()
	last := norm[len(norm)-1].Outputs[0]
	fused := func(eps float64, weight string) graph.Rewrite {
		return graph.Rewrite{Reason: "RMSNorm", RemoveNodes: names(norm),
			AddNodes: []*graph.Node{{Name: "rms", Op: "RMSNorm", Inputs: []string{"x", weight}, Outputs: []string{"rms_out"},
				Attrs: at("eps", graph.Float(eps))}},
			Remaps: []graph.Remap{{From: last, To: "rms_out"}}}
	}
	v := New(Options{})
	defer v.Close()
	ctx := context.Background()
	if err := v.ValidateRewrite(ctx, g, fused(1e-6, w)); err != nil {
		t.Fatalf("correct RMSNorm fusion rejected: %v", err)
	}
	// A wrong eps changes the values measurably only when it matters: use a big one.
	if err := v.ValidateRewrite(ctx, g, fused(0.5, w)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong eps: %v", err)
	}
	// A wrong weight (a new, different initializer).
	rw := fused(1e-6, "w2")
	rw.AddInitializers = []*graph.Initializer{{Name: "w2", Type: graph.T(graph.F32, graph.D(16)), Data: tensor.RandUniform(tensor.NewRand(9), 0.5, 1.5, 16).Bytes()}}
	if err := v.ValidateRewrite(ctx, g, rw); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong weight: %v", err)
	}
	// A replacement reading an undefined value cannot be evaluated.
	if err := v.ValidateRewrite(ctx, g, fused(1e-6, "nowhere")); !errors.Is(err, ErrCannotValidate) {
		t.Fatalf("undefined input: %v", err)
	}
}

func TestDropoutRemoval(t *testing.T) {
	b := newGB()
	x := b.input("x", graph.T(graph.F32, graph.D(4), graph.D(5)))
	d := b.node("Dropout", at("rate", graph.Float(0.1)), x)
	y := b.op("Neg", nil, d.Outputs[0])
	b.g.Outputs = []graph.ValueInfo{{Name: y}}
	v := New(Options{})
	defer v.Close()
	ok := graph.Rewrite{Reason: "dropout", RemoveNodes: []string{d.Name}, Remaps: []graph.Remap{{From: d.Outputs[0], To: x}}}
	if err := v.ValidateRewrite(context.Background(), b.g, ok); err != nil {
		t.Fatal(err)
	}
	bad := graph.Rewrite{Reason: "dropout", RemoveNodes: []string{d.Name}, Remaps: []graph.Remap{{From: d.Outputs[0], To: y}}}
	if err := v.ValidateRewrite(context.Background(), b.g, bad); err == nil {
		t.Fatal("remapping to a different value accepted")
	}
}

// decoder builds a one-layer decoder; attention is the primitive form over
// past/present I/O. It returns the graph and the attention nodes (from
// the cache concats to the output matmul) with the values around them.
type decoder struct {
	g                *graph.Graph
	attn             []*graph.Node
	q, k, v, out     string
	scale            float64
	hq, hkv, headDim int
}

func newDecoder() *decoder {
	const V, H, Hq, Hkv, D = 40, 24, 4, 2, 6
	r := tensor.NewRand(5)
	b := newGB()
	b.g.Metadata[graph.MetaVocabSize] = fmt.Sprint(V)
	w := func(name string, shape ...int) string {
		return b.init(name, tensor.RandUniform(r, -0.5, 0.5, shape...))
	}
	b.input(graph.InputIDs, graph.T(graph.I64, graph.S("batch"), graph.S("seq")))
	b.input(graph.AttentionMask, graph.T(graph.I64, graph.S("batch"), graph.S("past+seq")))
	b.input(graph.PositionIDs, graph.T(graph.I64, graph.S("batch"), graph.S("seq")))
	kv := graph.T(graph.F32, graph.S("batch"), graph.D(Hkv), graph.S("past"), graph.D(D))
	b.input(graph.PastKey(0), kv)
	b.input(graph.PastValue(0), kv)
	emb := w("embed", V, H)
	x := b.op("Gather", nil, emb, graph.InputIDs)
	heads := func(name string, h int) string {
		y := b.op("MatMul", at("transpose_b", graph.Int(1)), x, w(name, h*D, H))
		return b.op("Transpose", at("perm", graph.Ints(0, 2, 1, 3)), b.op("Reshape", at("shape", graph.Ints(0, 0, int64(h), D)), y))
	}
	rope := at("dims", graph.Int(D), "base", graph.Float(10000))
	dec := &decoder{scale: 1 / math.Sqrt(D), hq: Hq, hkv: Hkv, headDim: D}
	dec.q = b.op("RoPE", rope, heads("wq", Hq), graph.PositionIDs)
	dec.k = b.op("RoPE", rope, heads("wk", Hkv), graph.PositionIDs)
	dec.v = heads("wv", Hkv)
	mask := b.op("AttentionMask", nil, graph.AttentionMask, graph.InputIDs)
	start := len(b.g.Nodes)
	kc := b.node("Concat", at("axis", graph.Int(2)), graph.PastKey(0), dec.k)
	kc.Outputs[0] = graph.PresentKey(0)
	vc := b.node("Concat", at("axis", graph.Int(2)), graph.PastValue(0), dec.v)
	vc.Outputs[0] = graph.PresentValue(0)
	rep := at("repeats", graph.Int(Hq/Hkv), "axis", graph.Int(1))
	kr := b.op("RepeatInterleave", rep, graph.PresentKey(0))
	vr := b.op("RepeatInterleave", rep, graph.PresentValue(0))
	s := b.op("MatMul", nil, dec.q, b.op("Transpose", at("perm", graph.Ints(0, 1, 3, 2)), kr))
	s = b.op("Mul", nil, s, b.init("scale", tensor.Scalar(float32(dec.scale))))
	s = b.op("Add", nil, s, mask)
	p := b.op("Softmax", at("axis", graph.Int(-1)), s)
	dec.out = b.op("MatMul", nil, p, vr)
	dec.attn = b.g.Nodes[start:]
	o := b.op("Reshape", at("shape", graph.Ints(0, 0, Hq*D)), b.op("Transpose", at("perm", graph.Ints(0, 2, 1, 3)), dec.out))
	h := b.op("Add", nil, x, b.op("MatMul", at("transpose_b", graph.Int(1)), o, w("wo", H, Hq*D)))
	lg := b.node("MatMul", at("transpose_b", graph.Int(1)), h, emb)
	lg.Outputs[0] = graph.Logits
	b.g.Outputs = []graph.ValueInfo{{Name: graph.Logits}, {Name: graph.PresentKey(0)}, {Name: graph.PresentValue(0)}}
	dec.g = b.g
	return dec
}

func TestSDPARewriteNeedsRealContext(t *testing.T) {
	d := newDecoder()
	if err := graph.Verify(d.g); err != nil {
		t.Fatal(err)
	}
	// Replace the scores..output part with SDPA over the cached keys, the
	// padding taken from attention_mask: correct only because the additive
	// mask really is AttentionMask(attention_mask).
	var remove []string
	for _, n := range d.attn[2:] { // keep the cache concats
		remove = append(remove, n.Name)
	}
	rw := func(scale float64) graph.Rewrite {
		return graph.Rewrite{Reason: "sdpa", RemoveNodes: remove,
			AddNodes: []*graph.Node{{Name: "sdpa", Op: "SDPA", Inputs: []string{d.q, graph.PresentKey(0), graph.PresentValue(0), graph.AttentionMask},
				Outputs: []string{"sdpa_out"}, Attrs: at("scale", graph.Float(scale))}},
			Remaps: []graph.Remap{{From: d.out, To: "sdpa_out"}}}
	}
	v := New(Options{})
	defer v.Close()
	if err := v.ValidateRewrite(context.Background(), d.g, rw(d.scale)); err != nil {
		t.Fatalf("correct SDPA fusion rejected: %v", err)
	}
	if err := v.ValidateRewrite(context.Background(), d.g, rw(d.scale*1.1)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong scale: %v", err)
	}
}

func TestKVCacheRewriteEndToEnd(t *testing.T) {
	d := newDecoder()
	rw := func(layer int64, scale float64) graph.Rewrite {
		return graph.Rewrite{Reason: "native attention", RemoveNodes: names(d.attn),
			AddNodes: []*graph.Node{{Name: "kvattn", Op: "KVCacheAttention", Inputs: []string{d.q, d.k, d.v, graph.AttentionMask},
				Outputs: []string{"kv_out"}, Attrs: at("scale", graph.Float(scale), "layer", graph.Int(layer))}},
			Remaps:        []graph.Remap{{From: d.out, To: "kv_out"}},
			RemoveInputs:  []string{graph.PastKey(0), graph.PastValue(0)},
			RemoveOutputs: []string{graph.PresentKey(0), graph.PresentValue(0)}}
	}
	v := New(Options{})
	defer v.Close()
	if err := v.ValidateRewrite(context.Background(), d.g, rw(0, d.scale)); err != nil {
		t.Fatalf("correct KVCacheAttention rewrite rejected: %v", err)
	}
	err := v.ValidateRewrite(context.Background(), d.g, rw(0, d.scale*0.9))
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong scale: %v", err)
	}
	t.Log(err)
}

func TestStatefulRewriteOfNonDecoder(t *testing.T) {
	g, norm, w := rmsGraph()
	rw := graph.Rewrite{Reason: "odd", RemoveNodes: names(norm),
		AddNodes:      []*graph.Node{{Name: "rms", Op: "RMSNorm", Inputs: []string{"x", w}, Outputs: []string{"r"}}},
		Remaps:        []graph.Remap{{From: norm[5].Outputs[0], To: "r"}},
		SetInputTypes: []graph.ValueInfo{{Name: "x", Type: graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(16))}}}
	v := New(Options{})
	defer v.Close()
	if err := v.ValidateRewrite(context.Background(), g, rw); !errors.Is(err, ErrCannotValidate) {
		t.Fatalf("got %v", err)
	}
}

func TestInputsAreMeaningful(t *testing.T) {
	d := newDecoder()
	in, err := Inputs(d.g, map[string]int64{"batch": 3, "seq": 4, "past": 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := in[graph.AttentionMask]
	if m.Shape[0] != 3 || m.Shape[1] != 6 {
		t.Fatalf("mask %v", m.Shape)
	}
	mv := m.I64()
	// The last row is left-padded and keeps real tokens; the others are not padded.
	if mv[12] != 0 || mv[17] != 1 || mv[0] != 1 {
		t.Errorf("mask %v", mv)
	}
	for _, id := range in[graph.InputIDs].I64() {
		if id < 0 || id >= 40 {
			t.Errorf("id %d outside the vocabulary", id)
		}
	}
	// Positions are cumsum(mask)-1 over past+seq, last seq positions, pads at 1.
	pos := in[graph.PositionIDs].I64()
	if fmt.Sprint(pos[:4]) != "[2 3 4 5]" || fmt.Sprint(pos[8:]) != "[1 0 1 2]" {
		t.Errorf("positions %v (mask %v)", pos, mv)
	}
}

func TestInterfaceOnlyRewrite(t *testing.T) {
	d := newDecoder()
	// Removing an output, and nothing else, changes no computed value; such
	// a rewrite may only apply together with the rest of its patch.
	rw := graph.Rewrite{Reason: "drop present", RemoveOutputs: []string{graph.PresentKey(0)}}
	v := New(Options{})
	defer v.Close()
	if err := v.ValidateRewrite(context.Background(), d.g, rw); err != nil {
		t.Fatal(err)
	}
}
