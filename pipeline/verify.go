package pipeline

import (
	"context"
	"fmt"
	"github.com/graphpass/graphpass/generate/sample"
	"math"

	"github.com/graphpass/graphpass/backend"
)

// StepComparison compares the logits of one Forward call of two models.
type StepComparison struct {
	Step      int     `json:"step"`      // 0 is the prefill, then decode steps
	Positions int     `json:"positions"` // real (unpadded) positions compared over all rows
	MaxAbsErr float64 `json:"max_abs_err"`
	MaxAbsRef float64 `json:"max_abs_ref"`
	RelErr    float64 `json:"rel_err"`      // MaxAbsErr / MaxAbsRef
	ArgmaxOK  bool    `json:"argmax_equal"` // the most likely token agrees at every compared position
}

// LogitsComparison is the end-to-end check of a rewrite: the same prompts
// through the model before and after, a prefill then greedy decode steps
// (both fed the reference's choices), logits compared at every real
// position.
type LogitsComparison struct {
	Steps     []StepComparison `json:"steps"`
	RelErr    float64          `json:"rel_err"` // the worst step's
	ArgmaxOK  bool             `json:"argmax_equal"`
	Tolerance float64          `json:"tolerance"`
	Tokens    [][]int32        `json:"greedy_ids"` // the reference's greedy continuation per row
}

// OK reports whether the comparison passed.
func (c *LogitsComparison) OK() bool { return c.RelErr <= c.Tolerance && c.ArgmaxOK }

// CompareLogits runs prompts (one row each, left-padded to the longest)
// through ref and test for a prefill and steps greedy decode steps and
// compares their logits with the fixtures' relative error,
// max|test-ref| / max|ref|, at every real position.
func CompareLogits(ctx context.Context, ref, test backend.Model, prompts [][]int32, steps int, tol float64) (*LogitsComparison, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("compare logits: no prompts")
	}
	longest := 0
	for i, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("compare logits: prompt %d is empty", i)
		}
		longest = max(longest, len(p))
	}
	opts := backend.SessionOptions{Batch: len(prompts), MaxSeq: longest + steps + 1}
	rs, err := ref.NewSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	ts, err := test.NewSession(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer ts.Close()

	step := backend.Step{AllLogits: true}
	real := make([][]bool, len(prompts)) // which positions of this step to compare
	for r, p := range prompts {
		row := make([]int32, longest)
		mask := make([]int32, longest)
		real[r] = make([]bool, longest)
		for i := range p {
			row[longest-len(p)+i] = p[i]
			mask[longest-len(p)+i] = 1
			real[r][longest-len(p)+i] = true
		}
		step.Tokens = append(step.Tokens, row)
		step.Mask = append(step.Mask, mask)
	}
	out := &LogitsComparison{ArgmaxOK: true, Tolerance: tol, Tokens: make([][]int32, len(prompts))}
	for s := 0; s <= steps; s++ {
		a, err := rs.Forward(ctx, step)
		if err != nil {
			return nil, fmt.Errorf("reference, step %d: %w", s, err)
		}
		b, err := ts.Forward(ctx, step)
		if err != nil {
			return nil, fmt.Errorf("rewritten, step %d: %w", s, err)
		}
		if a.Batch != b.Batch || a.Positions != b.Positions || a.Vocab != b.Vocab {
			return nil, fmt.Errorf("step %d: logits shapes differ: [%d %d %d] vs [%d %d %d]", s, a.Batch, a.Positions, a.Vocab, b.Batch, b.Positions, b.Vocab)
		}
		sc := StepComparison{Step: s, ArgmaxOK: true}
		for r := 0; r < a.Batch; r++ {
			for p := 0; p < a.Positions; p++ {
				if !real[r][p] {
					continue
				}
				sc.Positions++
				ra, rb := a.Row(r, p), b.Row(r, p)
				for v := range ra {
					sc.MaxAbsRef = math.Max(sc.MaxAbsRef, math.Abs(float64(ra[v])))
					d := math.Abs(float64(ra[v]) - float64(rb[v]))
					if d != d { // NaN
						d = math.Inf(1)
					}
					sc.MaxAbsErr = math.Max(sc.MaxAbsErr, d)
				}
				if sample.Argmax(ra) != sample.Argmax(rb) {
					sc.ArgmaxOK = false
				}
			}
		}
		if sc.MaxAbsRef > 0 {
			sc.RelErr = sc.MaxAbsErr / sc.MaxAbsRef
		} else if sc.MaxAbsErr > 0 {
			sc.RelErr = math.Inf(1)
		}
		out.Steps = append(out.Steps, sc)
		out.RelErr = math.Max(out.RelErr, sc.RelErr)
		out.ArgmaxOK = out.ArgmaxOK && sc.ArgmaxOK
		// Next step: the reference's greedy choice, for both models.
		next := backend.Step{}
		for r := 0; r < a.Batch; r++ {
			tok := sample.Argmax(a.Row(r, a.Positions-1))
			out.Tokens[r] = append(out.Tokens[r], tok)
			next.Tokens = append(next.Tokens, []int32{tok})
			next.Mask = append(next.Mask, []int32{1})
			real[r] = []bool{true}
		}
		step = next
	}
	return out, nil
}
