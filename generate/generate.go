// Package generate runs autoregressive generation over a backend.Session:
// one prefill of the (left-padded) prompts, then one decode step per new
// token, picking tokens with package sample and stopping at the model's
// EOS ids or a token budget. A callback sees every token as it is chosen,
// so callers can stream text (see TextStreamer).
package generate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/generate/sample"
)

// Params control a generation.
type Params struct {
	// MaxNewTokens is how many tokens each row may add (> 0).
	MaxNewTokens int
	// EOS are the ids that end a row (the token itself is kept in the
	// output); empty or IgnoreEOS means only MaxNewTokens stops.
	EOS       []int32
	IgnoreEOS bool
	// Sampling picks each token; the zero value is greedy.
	Sampling sample.Params
	// Seed fixes the random stream of sampling; row r uses Seed+r, so a
	// row's tokens do not depend on the rest of the batch.
	Seed uint64
	// PadID fills the left padding of shorter prompts (masked out) and is
	// fed to rows that already finished.
	PadID int32
}

// Validate reports parameters that cannot work.
func (p Params) Validate() error {
	if p.MaxNewTokens <= 0 {
		return fmt.Errorf("generate: max new tokens must be positive, got %d", p.MaxNewTokens)
	}
	if err := p.Sampling.Validate(); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}

// Event is one chosen token.
type Event struct {
	Row  int   // index into the prompts
	Step int   // 0 for the first new token
	ID   int32 // the token
	EOS  bool  // the token is an EOS id and ends the row
	Last bool  // the row ends with this token (EOS or the token budget)
}

// Finish says why a row stopped.
type Finish string

const (
	FinishEOS    Finish = "eos"    // an EOS token
	FinishLength Finish = "length" // MaxNewTokens reached
)

// Result is the outcome of Run.
type Result struct {
	Tokens [][]int32 // new tokens per row, EOS included when it stopped the row
	Finish []Finish  // why each row stopped

	PromptTokens  int           // real (unpadded) prompt tokens over all rows
	PrefillTime   time.Duration // the first Forward, which also yields the first token
	DecodeTime    time.Duration // every later Forward
	DecodeSteps   int           // Forward calls after the prefill
	SampleTime    time.Duration // time spent choosing tokens
	FirstTokenLag time.Duration // from Run's start to the first token
}

// DecodeTokensPerSecond is new tokens per second of decode steps, over
// all rows.
func (r *Result) DecodeTokensPerSecond() float64 {
	if r.DecodeTime <= 0 {
		return 0
	}
	n := 0
	for _, t := range r.Tokens {
		if len(t) > 1 {
			n += len(t) - 1
		}
	}
	return float64(n) / r.DecodeTime.Seconds()
}

// ErrStop may be returned by an onToken callback to end generation early
// without an error; Run then returns what it has.
var ErrStop = errors.New("generation stopped by the caller")

// Run generates from prompts (one per batch row; the session must have
// been opened for len(prompts) rows and room for the longest prompt plus
// MaxNewTokens). onToken, if not nil, is called for every chosen token in
// row order; an error from it ends Run (ErrStop without error).
func Run(ctx context.Context, s backend.Session, prompts [][]int32, p Params, onToken func(Event) error) (*Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("generate: no prompts")
	}
	longest := 0
	for i, pr := range prompts {
		if len(pr) == 0 {
			return nil, fmt.Errorf("generate: prompt %d is empty", i)
		}
		longest = max(longest, len(pr))
	}
	start := time.Now()
	res := &Result{Tokens: make([][]int32, len(prompts)), Finish: make([]Finish, len(prompts))}
	samplers := make([]*sample.Sampler, len(prompts))
	history := make([][]int32, len(prompts))
	for r := range prompts {
		samplers[r] = sample.New(p.Sampling, p.Seed+uint64(r))
		history[r] = append([]int32(nil), prompts[r]...)
		res.PromptTokens += len(prompts[r])
	}
	eos := map[int32]bool{}
	if !p.IgnoreEOS {
		for _, id := range p.EOS {
			eos[id] = true
		}
	}

	// Prefill: left-pad to the longest prompt.
	step := backend.Step{Tokens: make([][]int32, len(prompts))}
	padded := false
	for r, pr := range prompts {
		row := make([]int32, longest)
		for i := range longest - len(pr) {
			row[i] = p.PadID
		}
		copy(row[longest-len(pr):], pr)
		step.Tokens[r] = row
		padded = padded || len(pr) < longest
	}
	if padded {
		step.Mask = make([][]int32, len(prompts))
		for r, pr := range prompts {
			m := make([]int32, longest)
			for i := longest - len(pr); i < longest; i++ {
				m[i] = 1
			}
			step.Mask[r] = m
		}
	}

	// Greedy decoding without a repetition penalty needs no logits: a
	// runtime that picks the argmax itself (on the device, or inside its
	// plugin process) sends back only the ids.
	greedy, fast := s.(backend.GreedySession)
	fast = fast && p.Sampling.Greedy() && (p.Sampling.RepetitionPenalty == 0 || p.Sampling.RepetitionPenalty == 1)

	done := make([]bool, len(prompts))
	live := len(prompts)
	for n := 0; n < p.MaxNewTokens && live > 0; n++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		t0 := time.Now()
		var logits *backend.Logits
		var chosen []int32
		var err error
		if fast {
			chosen, err = greedy.ForwardGreedy(ctx, step)
		} else {
			logits, err = s.Forward(ctx, step)
		}
		if err != nil {
			return res, fmt.Errorf("generate: step %d: %w", n, err)
		}
		if n == 0 {
			res.PrefillTime = time.Since(t0)
		} else {
			res.DecodeTime += time.Since(t0)
			res.DecodeSteps++
		}
		if fast && len(chosen) != len(prompts) {
			return res, fmt.Errorf("generate: step %d: runtime returned %d greedy ids for %d rows", n, len(chosen), len(prompts))
		}
		if !fast && (logits.Batch != len(prompts) || logits.Positions < 1 || len(logits.Data) < logits.Batch*logits.Positions*logits.Vocab) {
			return res, fmt.Errorf("generate: step %d: runtime returned logits [%d, %d, %d] for %d rows", n, logits.Batch, logits.Positions, logits.Vocab, len(prompts))
		}
		t1 := time.Now()
		next := make([][]int32, len(prompts))
		var events []Event
		for r := range prompts {
			if done[r] {
				next[r] = []int32{p.PadID}
				continue
			}
			var id int32
			if fast {
				id = chosen[r]
			} else {
				id = samplers[r].Sample(logits.Row(r, logits.Positions-1), history[r])
			}
			history[r] = append(history[r], id)
			res.Tokens[r] = append(res.Tokens[r], id)
			ev := Event{Row: r, Step: n, ID: id}
			switch {
			case eos[id]:
				ev.EOS, ev.Last = true, true
				res.Finish[r] = FinishEOS
			case n == p.MaxNewTokens-1:
				ev.Last = true
				res.Finish[r] = FinishLength
			}
			if ev.Last {
				done[r] = true
				live--
			}
			next[r] = []int32{id}
			events = append(events, ev)
		}
		res.SampleTime += time.Since(t1)
		if n == 0 {
			res.FirstTokenLag = time.Since(start)
		}
		if onToken != nil {
			for _, ev := range events {
				if err := onToken(ev); err != nil {
					if errors.Is(err, ErrStop) {
						return res, nil
					}
					return res, err
				}
			}
		}
		step = backend.Step{Tokens: next}
	}
	return res, nil
}
