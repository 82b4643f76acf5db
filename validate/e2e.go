package validate

import (
	"context"
	"fmt"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// sessionRun is a decoder's logits over a prefill and decode steps, for
// every trial.
type sessionRun struct {
	before *graph.Graph
	trials [][]*backend.Logits // per trial, per step
	real   [][][]bool          // per trial, per step: [batch][positions] real tokens
}

// script is the token schedule of one end-to-end trial.
type script struct {
	steps []backend.Step
}

func (v *Validator) script(g *graph.Graph, trial int) script {
	r := tensor.NewRand(v.opts.Seed + uint64(trial) + 1000)
	vocab := vocabSize(g)
	B := int(v.opts.Dims[graph.DimBatch])
	P := int(v.opts.Dims[graph.DimSeq] + v.opts.Dims[graph.DimPast])
	B, P = max(B, 1), max(P, 2)
	tok := func() int32 { return int32(r.Int64N(vocab)) }
	pre := backend.Step{AllLogits: true}
	for b := 0; b < B; b++ {
		row, mask := make([]int32, P), make([]int32, P)
		pads := 0
		if b == B-1 && B > 1 {
			pads = min(b+1, P-1)
		}
		for i := range row {
			if i >= pads {
				row[i], mask[i] = tok(), 1
			}
		}
		pre.Tokens = append(pre.Tokens, row)
		pre.Mask = append(pre.Mask, mask)
	}
	s := script{steps: []backend.Step{pre}}
	for k := 0; k < v.opts.DecodeSteps; k++ {
		st := backend.Step{}
		for b := 0; b < B; b++ {
			st.Tokens = append(st.Tokens, []int32{tok()})
		}
		s.steps = append(s.steps, st)
	}
	return s
}

// runSessions runs g as a decoder over every trial's script.
func (v *Validator) runSessions(ctx context.Context, g *graph.Graph) (*sessionRun, error) {
	if g.Input(graph.InputIDs) == nil || g.Input(graph.AttentionMask) == nil || g.Output(graph.Logits) == nil {
		return nil, fmt.Errorf("%w: a stateful or interface-changing rewrite is checked end to end, which needs a decoder graph (input_ids, attention_mask, logits)", ErrCannotValidate)
	}
	if err := v.materialize(g); err != nil {
		return nil, err
	}
	m, err := cpu.New().Load(ctx, g, backend.LoadOptions{Threads: v.opts.Threads})
	if err != nil {
		return nil, fmt.Errorf("%w: loading %q: %v", ErrCannotValidate, g.Name, err)
	}
	defer m.Close()
	run := &sessionRun{}
	for t := 0; t < v.opts.Trials; t++ {
		sc := v.script(g, t)
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: len(sc.steps[0].Tokens)})
		if err != nil {
			return nil, err
		}
		var logits []*backend.Logits
		var real [][]bool
		for _, st := range sc.steps {
			lg, err := s.Forward(ctx, st)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("%w: running %q: %v", ErrCannotValidate, g.Name, err)
			}
			logits = append(logits, lg)
			for b := range st.Tokens {
				row := make([]bool, lg.Positions)
				for p := range row {
					i := len(st.Tokens[b]) - lg.Positions + p
					row[p] = st.Mask == nil || st.Mask[b][i] != 0
				}
				real = append(real, row)
			}
		}
		s.Close()
		run.trials = append(run.trials, logits)
		run.real = append(run.real, real)
	}
	return run, nil
}

// validateEndToEnd compares the decoder's logits before and after rw over
// a prefill and decode steps.
func (v *Validator) validateEndToEnd(ctx context.Context, before *graph.Graph, rw graph.Rewrite) error {
	after, err := graph.Apply(before, &graph.Patch{Rewrites: []graph.Rewrite{rw}})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCannotValidate, err)
	}
	if v.e2e == nil || v.e2e.before != before {
		r, err := v.runSessions(ctx, before.Clone())
		if err != nil {
			return err
		}
		r.before = before
		v.e2e = r
	}
	got, err := v.runSessions(ctx, after)
	if err != nil {
		return err
	}
	for t, steps := range v.e2e.trials {
		for k, want := range steps {
			g := got.trials[t][k]
			if g.Batch != want.Batch || g.Positions != want.Positions || g.Vocab != want.Vocab {
				return fmt.Errorf("%w: trial %d step %d: logits [%d,%d,%d], want [%d,%d,%d]", ErrMismatch, t, k,
					g.Batch, g.Positions, g.Vocab, want.Batch, want.Positions, want.Vocab)
			}
			var gv, wv []float32
			for b := 0; b < want.Batch; b++ {
				for p := 0; p < want.Positions; p++ {
					if v.e2e.real[t][k*want.Batch+b][p] {
						gv = append(gv, g.Row(b, p)...)
						wv = append(wv, want.Row(b, p)...)
					}
				}
			}
			if d := tensor.Compare(gv, wv); d.NaN || d.Rel > v.opts.Tol {
				what := "prefill"
				if k > 0 {
					what = fmt.Sprintf("decode step %d", k)
				}
				return fmt.Errorf("%w: logits at %s, trial %d: relative error %.3g > %.3g (%v)", ErrMismatch, what, t, d.Rel, v.opts.Tol, d)
			}
		}
	}
	return nil
}
