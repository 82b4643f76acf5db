package gputest

import (
	"context"
	"testing"

	"github.com/graphpass/graphpass/gpu"
)

// TestCasesPlan checks, without a GPU, that every case's graph runs on the
// CPU reference and plans for the GPU runtimes at each step's shape.
func TestCasesPlan(t *testing.T) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			if _, err := reference(context.Background(), c); err != nil {
				t.Fatalf("reference: %v", err)
			}
			p, err := gpu.NewProgram("test", c.Graph)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range c.Steps {
				pl, err := p.Plan(c.Batch, len(st.Tokens[0]), c.MaxSeq, !st.AllLogits)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if len(pl.Dispatches) == 0 {
					t.Fatalf("step %d: no dispatches", i)
				}
			}
		})
	}
}
