package backend

import (
	"context"
	"fmt"
	"github.com/graphpass/graphpass/generate/sample"
)

// GreedySession is implemented by sessions that can pick the greedy next
// token themselves — a GPU runtime takes the argmax on the device, a plugin
// client asks its plugin to — so that only token ids, not a vocabulary of
// logits per row, come back. ForwardGreedy appends step.Tokens like Forward
// and returns, per row, the id of the largest logit at the last new
// position (the lowest id among equal maxima).
type GreedySession interface {
	Session
	ForwardGreedy(ctx context.Context, step Step) ([]int32, error)
}

// Greedy runs one step and returns each row's greedy next token: through
// ForwardGreedy when s implements it, else from Forward's logits.
func Greedy(ctx context.Context, s Session, step Step) ([]int32, error) {
	if g, ok := s.(GreedySession); ok {
		return g.ForwardGreedy(ctx, step)
	}
	step.AllLogits = false
	lg, err := s.Forward(ctx, step)
	if err != nil {
		return nil, err
	}
	return ArgmaxLast(lg)
}

// ArgmaxLast returns, per row, the index of the largest logit at the last
// position: generate/sample's greedy choice (the lowest index among equal
// maxima; NaNs never win).
func ArgmaxLast(lg *Logits) ([]int32, error) {
	if lg == nil || lg.Positions < 1 || lg.Vocab < 1 {
		return nil, fmt.Errorf("no logits to pick a token from")
	}
	ids := make([]int32, lg.Batch)
	for b := range ids {
		ids[b] = sample.Argmax(lg.Row(b, lg.Positions-1))
	}
	return ids, nil
}
