package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// softmaxOf is an independent softmax over the given logits.
func softmaxOf(xs ...float64) []float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	s := 0.0
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Exp(x - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func TestArgmax(t *testing.T) {
	tests := []struct {
		in   []float32
		want int32
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{5, 5, 1}, 0}, // first of ties, as torch.argmax
		{[]float32{float32(math.NaN()), -1, -2}, 1},
		{[]float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, 0},
	}
	for _, tt := range tests {
		if got := Argmax(tt.in); got != tt.want {
			t.Errorf("Argmax(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// argmaxOnePass is Argmax's definition, one pass tracking the index.
func argmaxOnePass(x []float32) int32 {
	best := -1
	for i, v := range x {
		if v == v && (best < 0 || v > x[best]) {
			best = i
		}
	}
	return int32(max(best, 0))
}

// Argmax's two passes agree with the definition on every length's tail and
// on rows of NaNs, infinities, signed zeros and ties.
func TestArgmaxMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), 1, 1, -3}
	for n := 0; n <= 41; n++ {
		for trial := 0; trial < 200; trial++ {
			x := make([]float32, n)
			for i := range x {
				if r.IntN(3) == 0 {
					x[i] = special[r.IntN(len(special))]
				} else {
					x[i] = float32(r.IntN(5)) - 2 // small range: many ties
				}
			}
			if got, want := Argmax(x), argmaxOnePass(x); got != want {
				t.Fatalf("Argmax(%v) = %d, want %d", x, got, want)
			}
		}
	}
}

func TestDistribution(t *testing.T) {
	logits := []float32{2, 1, 0, -1, 3}
	tests := []struct {
		name    string
		p       Params
		history []int32
		ids     []int32
		probs   []float64
	}{
		{"greedy", Params{}, nil, []int32{4}, []float64{1}},
		{"temperature 1", Params{Temperature: 1}, nil,
			[]int32{4, 0, 1, 2, 3}, softmaxOf(3, 2, 1, 0, -1)},
		{"temperature 0.5", Params{Temperature: 0.5}, nil,
			[]int32{4, 0, 1, 2, 3}, softmaxOf(6, 4, 2, 0, -2)},
		{"top-k 2", Params{Temperature: 1, TopK: 2}, nil,
			[]int32{4, 0}, softmaxOf(3, 2)},
		// softmax(3,2,1,0,-1) = .636 .234 .086 .032 .012: the three least
		// likely add up to .129 <= 1-0.85, the fourth would exceed it.
		{"top-p 0.85", Params{Temperature: 1, TopP: 0.85}, nil,
			[]int32{4, 0}, softmaxOf(3, 2)},
		{"top-p 0.9", Params{Temperature: 1, TopP: 0.9}, nil,
			[]int32{4, 0, 1}, softmaxOf(3, 2, 1)},
		{"top-p tiny keeps one", Params{Temperature: 1, TopP: 1e-9}, nil,
			[]int32{4}, []float64{1}},
		// min-p 0.2: keep p >= 0.2*0.636 = 0.127: tokens 4, 0.
		{"min-p 0.2", Params{Temperature: 1, MinP: 0.2}, nil,
			[]int32{4, 0}, softmaxOf(3, 2)},
		{"min-p 0.1", Params{Temperature: 1, MinP: 0.1}, nil,
			[]int32{4, 0, 1}, softmaxOf(3, 2, 1)},
		// Penalty 2 on tokens 4 and 3: 3 -> 1.5, -1 -> -2.
		{"repetition penalty", Params{Temperature: 1, RepetitionPenalty: 2}, []int32{4, 3, 4},
			[]int32{0, 4, 1, 2, 3}, softmaxOf(2, 1.5, 1, 0, -2)},
		{"repetition penalty greedy", Params{RepetitionPenalty: 4}, []int32{4},
			[]int32{0}, []float64{1}},
		{"top-k then top-p", Params{Temperature: 1, TopK: 3, TopP: 0.7}, nil,
			[]int32{4, 0}, softmaxOf(3, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, probs := New(tt.p, 1).Distribution(logits, tt.history)
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Fatalf("ids = %v, want %v", ids, tt.ids)
			}
			for i := range probs {
				if !near(probs[i], tt.probs[i]) {
					t.Fatalf("probs = %v, want %v", probs, tt.probs)
				}
			}
		})
	}
}

func TestTopKKeepsTies(t *testing.T) {
	ids, _ := New(Params{Temperature: 1, TopK: 2}, 0).Distribution([]float32{1, 5, 3, 3, 0}, nil)
	if !reflect.DeepEqual(ids, []int32{1, 2, 3}) {
		t.Errorf("ids = %v, want [1 2 3] (both tokens tied at the 2nd logit)", ids)
	}
}

func TestSeedDeterminism(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	p := Params{Temperature: 1.3, TopK: 200}
	draw := func(seed uint64) []int32 {
		s := New(p, seed)
		out := make([]int32, 50)
		for i := range out {
			out[i] = s.Sample(logits, nil)
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed gave different tokens")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same 50 tokens")
	}
}

// TestSampleFrequencies checks draws follow the distribution.
func TestSampleFrequencies(t *testing.T) {
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(7))} // p = .1 .2 .7
	s := New(Params{Temperature: 1}, 42)
	counts := make([]int, 3)
	const n = 20000
	for range n {
		counts[s.Sample(logits, nil)]++
	}
	for i, want := range []float64{0.1, 0.2, 0.7} {
		if got := float64(counts[i]) / n; math.Abs(got-want) > 0.015 {
			t.Errorf("token %d drawn %.3f of the time, want %.2f", i, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Params{
		{TopK: -1}, {TopP: 1.5}, {MinP: -0.1}, {RepetitionPenalty: -1},
		{Temperature: math.NaN()}, {Temperature: math.Inf(1)},
	}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", p)
		}
	}
	if err := (Params{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepetitionPenalty: 1.1}).Validate(); err != nil {
		t.Error(err)
	}
}

// BenchmarkSample picks from a Qwen-sized vocabulary: "peaked" logits
// spread like an LLM's (a few tokens carry the mass), "flat" ones are the
// worst case for top-p.
func BenchmarkSample(b *testing.B) {
	peaked := make([]float32, 151936)
	flat := make([]float32, len(peaked))
	for i := range peaked {
		flat[i] = float32(math.Sin(float64(i) * 0.37))
		peaked[i] = 12 * flat[i] * flat[i] * flat[i] * float32(math.Cos(float64(i)*0.011))
	}
	for _, bc := range []struct {
		name   string
		p      Params
		logits []float32
	}{
		{"greedy", Params{}, peaked},
		{"topk50-topp0.95", Params{Temperature: 0.8, TopK: 50, TopP: 0.95}, peaked},
		{"topp0.95", Params{Temperature: 0.8, TopP: 0.95}, peaked},
		{"temperature-only", Params{Temperature: 0.8}, peaked},
		{"minp0.05", Params{Temperature: 0.8, MinP: 0.05}, peaked},
		{"topp0.95-flat", Params{Temperature: 0.8, TopP: 0.95}, flat},
	} {
		logits := bc.logits
		b.Run(bc.name, func(b *testing.B) {
			s := New(bc.p, 1)
			for b.Loop() {
				s.Sample(logits, nil)
			}
		})
	}
}

// TestTopPFlat: a flat distribution over 10,000 tokens. transformers
// removes the tokens whose ascending cumulative probability is <= 1-0.90005
// = 0.09995, i.e. 999 of them (ties broken by id here).
func TestTopPFlat(t *testing.T) {
	logits := make([]float32, 10000)
	ids, probs := New(Params{Temperature: 1, TopP: 0.90005}, 0).Distribution(logits, nil)
	if len(ids) != 9001 {
		t.Fatalf("kept %d tokens, want 9001", len(ids))
	}
	for i, id := range ids {
		if id != int32(i) || !near(probs[i], 1.0/9001) {
			t.Fatalf("token %d: id %d prob %v", i, id, probs[i])
		}
	}
}

// TestTopPMatchesSort checks the quickselect against sorting on random
// distributions.
func TestTopPMatchesSort(t *testing.T) {
	r := New(Params{}, 3).rng
	for trial := range 300 {
		n := 1 + r.IntN(300)
		cs := make([]cand, n)
		for i := range cs {
			cs[i] = cand{id: int32(i), score: float32(r.NormFloat64() * 3)}
			if r.IntN(5) == 0 && i > 0 {
				cs[i].score = cs[i-1].score // ties
			}
		}
		softmax(cs)
		p := r.Float64()
		sorted := slices.Clone(cs)
		slices.SortStableFunc(sorted, func(a, b cand) int { return cmp.Compare(b.prob, a.prob) })
		want, acc := 0, 0.0
		for want < n && (want == 0 || acc < p) {
			acc += sorted[want].prob
			want++
		}
		got := topP(slices.Clone(cs), p)
		if len(got) != want {
			t.Fatalf("trial %d: kept %d, want %d", trial, len(got), want)
		}
		gotIDs := map[int32]bool{}
		for _, c := range got {
			gotIDs[c.id] = true
		}
		for _, c := range sorted[:want] {
			if !gotIDs[c.id] {
				t.Fatalf("trial %d: token %d missing", trial, c.id)
			}
		}
	}
}
