package backend

import (
	"context"
	"testing"
)

type fakeSession struct{ lg *Logits }

func (f *fakeSession) Forward(ctx context.Context, step Step) (*Logits, error) { return f.lg, nil }
func (f *fakeSession) Close() error                                            { return nil }

type fakeGreedy struct{ fakeSession }

func (f *fakeGreedy) ForwardGreedy(ctx context.Context, step Step) ([]int32, error) {
	return []int32{42}, nil
}

func TestGreedy(t *testing.T) {
	// Two rows, two positions, vocab 3: only the last position counts; ties
	// go to the lowest id.
	lg := &Logits{Batch: 2, Positions: 2, Vocab: 3, Data: []float32{
		9, 0, 0, 0, 5, 1,
		0, 0, 9, 2, 7, 7,
	}}
	ids, err := Greedy(context.Background(), &fakeSession{lg}, Step{})
	if err != nil || len(ids) != 2 || ids[0] != 1 || ids[1] != 1 {
		t.Fatalf("got %v, %v; want [1 1]", ids, err)
	}
	ids, err = Greedy(context.Background(), &fakeGreedy{}, Step{})
	if err != nil || ids[0] != 42 {
		t.Fatalf("ForwardGreedy not used: %v %v", ids, err)
	}
	if _, err := ArgmaxLast(&Logits{Batch: 1}); err == nil {
		t.Fatal("empty logits accepted")
	}
}
