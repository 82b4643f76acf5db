package cpu

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// attnCase is one SDPA configuration for the attention core's tests.
type attnCase struct {
	B, Hkv, group, S, T, D, Dv int
	causal                     bool
	pads                       []int       // key padding per batch, nil for no key mask
	maskType                   graph.DType // of the key mask (I64 takes a fast path)
}

func (c attnCase) String() string {
	s := fmt.Sprintf("B%d Hkv%d group%d S%d T%d D%d Dv%d causal=%v", c.B, c.Hkv, c.group, c.S, c.T, c.D, c.Dv, c.causal)
	if c.pads != nil {
		s += fmt.Sprintf(" pads=%v (%s mask)", c.pads, c.maskType)
	}
	return s
}

// attnCases crosses the GQA group sizes and head sizes (D a multiple of
// the kernels' 32- and 64-wide column blocks, of 8 only, and of neither)
// with decode (S=1), short-chunk and prefill shapes and the masks:
// causal, key padding, rows with no visible key (a padded prefix under the
// causal mask) and a batch with no real key at all.
func attnCases() []attnCase {
	var cases []attnCase
	for _, group := range []int{1, 2, 3, 4} {
		for _, d := range [][2]int{{64, 64}, {128, 128}, {40, 40}, {80, 80}, {36, 36}, {64, 80}} {
			D, Dv := d[0], d[1]
			cases = append(cases,
				attnCase{B: 1, Hkv: 2, group: group, S: 1, T: 37, D: D, Dv: Dv, causal: true},
				attnCase{B: 2, Hkv: 2, group: group, S: 1, T: 21, D: D, Dv: Dv, causal: true, pads: []int{0, 5}, maskType: graph.I64},
				attnCase{B: 2, Hkv: 1, group: group, S: 3, T: 19, D: D, Dv: Dv, causal: true, pads: []int{2, 0}, maskType: graph.Bool},
				attnCase{B: 2, Hkv: 2, group: group, S: 9, T: 9, D: D, Dv: Dv, causal: true, pads: []int{0, 4}, maskType: graph.F32},
				attnCase{B: 2, Hkv: 1, group: group, S: 4, T: 13, D: D, Dv: Dv, pads: []int{13, 3}, maskType: graph.I64},
				attnCase{B: 1, Hkv: 2, group: group, S: 5, T: 6, D: D, Dv: Dv},
			)
		}
	}
	return cases
}

// TestAttentionCore checks SDPA (the attention core) against the float64
// reference for every attnCase, with one thread, with the default split
// and with 16 threads (more than a decode step's kv heads, so groups of
// three or four query heads split their pairs between tasks), which must
// all give the same bits.
func TestAttentionCore(t *testing.T) {
	for i, c := range attnCases() {
		seed := uint64(10 * i)
		Hq := c.Hkv * c.group
		q := randF32(seed+1, -1, 1, c.B, Hq, c.S, c.D)
		k := randF32(seed+2, -1, 1, c.B, c.Hkv, c.T, c.D)
		v := randF32(seed+3, -1, 1, c.B, c.Hkv, c.T, c.Dv)
		in := []*tensor.Tensor{q, k, v}
		var real []bool
		if c.pads != nil {
			var m *tensor.Tensor
			m, real = maskTensor(c.B, c.T, c.pads)
			in = append(in, m.Convert(c.maskType))
		}
		mask := "none"
		if c.causal {
			mask = "causal"
		}
		scale := 1 / math.Sqrt(float64(c.D))
		want := refAttention(q, k, v, real, c.causal, scale)
		g := opGraph("SDPA", attrs("scale", graph.Float(scale), "mask", graph.String(mask)), in)
		var first *tensor.Tensor
		for _, threads := range []int{1, 0, 16} {
			y := runWithThreads(t, g, in, threads)
			check(t, fmt.Sprintf("%v threads=%d", c, threads), y, []int{c.B, Hq, c.S, c.Dv}, want, 1e-5)
			if first == nil {
				first = y
			} else if !sameBits(first.F32(), y.F32()) {
				t.Fatalf("%v: one thread and %d disagree", c, threads)
			}
		}
	}
}

// TestKVCacheAttentionSteps feeds a sequence through KVCacheAttention in
// prefill, chunk and decode steps (the cache grows past its first
// capacity, so heads sit at a stride larger than their length) and checks
// each step against the float64 reference over the whole sequence.
func TestKVCacheAttentionSteps(t *testing.T) {
	steps := []int{7, 1, 3, 1, 1, 12, 1}
	for _, group := range []int{1, 2, 4} {
		for _, D := range []int{64, 128, 40} {
			const B, Hkv = 2, 2
			Hq := Hkv * group
			T := 0
			for _, s := range steps {
				T += s
			}
			q := randF32(uint64(D+group), -1, 1, B, Hq, T, D)
			k := randF32(uint64(D+group+1), -1, 1, B, Hkv, T, D)
			v := randF32(uint64(D+group+2), -1, 1, B, Hkv, T, D)
			mask, real := maskTensor(B, T, []int{0, 4})
			scale := 1 / math.Sqrt(float64(D))
			want := refAttention(q, k, v, real, true, scale)

			g := opGraph("KVCacheAttention", attrs("scale", graph.Float(scale), "layer", graph.Int(0)),
				[]*tensor.Tensor{tensor.New(graph.F32, B, Hq, 1, D), tensor.New(graph.F32, B, Hkv, 1, D), tensor.New(graph.F32, B, Hkv, 1, D), tensor.New(graph.I64, B, 1)})
			for i := range g.Inputs {
				if i < 3 {
					g.Inputs[i].Type.Shape[2] = graph.S("seq")
				} else {
					g.Inputs[i].Type.Shape[1] = graph.S("past+seq")
				}
			}
			p, err := Compile(g, Options{})
			if err != nil {
				t.Fatal(err)
			}
			pos := 0
			for _, s := range steps {
				// Positions [pos, pos+s) of x, a [B,H,T,w] tensor.
				sl := func(x *tensor.Tensor) *tensor.Tensor {
					H, w := x.Shape[1], x.Shape[3]
					out := tensor.New(graph.F32, B, H, s, w)
					for bh := 0; bh < B*H; bh++ {
						copy(out.F32()[bh*s*w:(bh+1)*s*w], x.F32()[(bh*T+pos)*w:(bh*T+pos+s)*w])
					}
					return out
				}
				km := tensor.New(graph.I64, B, pos+s)
				for b := 0; b < B; b++ {
					copy(km.I64()[b*(pos+s):(b+1)*(pos+s)], mask.I64()[b*T:b*T+pos+s])
				}
				out, err := p.Run(context.Background(), map[string]*tensor.Tensor{"x0": sl(q), "x1": sl(k), "x2": sl(v), "x3": km})
				if err != nil {
					t.Fatalf("group %d D %d step at %d: %v", group, D, pos, err)
				}
				var w []float64
				for bh := 0; bh < B*Hq; bh++ {
					w = append(w, want[(bh*T+pos)*D:(bh*T+pos+s)*D]...)
				}
				// Padding queries see no real key: the reference averages all
				// T keys, the step all pos+s it has. Compare real rows only.
				y := out["y"].Clone()
				for bh := 0; bh < B*Hq; bh++ {
					for i := 0; i < s; i++ {
						if !real[(bh/Hq)*T+pos+i] {
							clear(y.F32()[(bh*s+i)*D : (bh*s+i+1)*D])
							clear(w[(bh*s+i)*D : (bh*s+i+1)*D])
						}
					}
				}
				check(t, fmt.Sprintf("group %d D %d step at %d", group, D, pos), y, []int{B, Hq, s, D}, w, 1e-5)
				pos += s
			}
			p.Close()
		}
	}
}

func runWithThreads(t *testing.T, g *graph.Graph, ins []*tensor.Tensor, threads int) *tensor.Tensor {
	t.Helper()
	p, err := Compile(g, Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	inputs := map[string]*tensor.Tensor{}
	for i, x := range ins {
		inputs[fmt.Sprintf("x%d", i)] = x
	}
	out, err := p.Run(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"]
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
