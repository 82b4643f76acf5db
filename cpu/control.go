package cpu

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// buildIf compiles both branches of an If; the kernel runs the chosen one
// in a scope that borrows the enclosing values it reads.
func (c *compiler) buildIf(n *graph.Node, outer map[string]int) (multiKernel, error) {
	var branches [2]*block
	seen := map[int]bool{}
	var reads []int
	for i, key := range []string{"then_branch", "else_branch"} {
		sg := n.Subgraphs[key]
		if sg == nil {
			return nil, fmt.Errorf("missing subgraph %q", key)
		}
		b, err := c.compileBlock(sg, outer)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if len(b.outputs) != len(n.Outputs) {
			return nil, fmt.Errorf("%s has %d outputs, If has %d", key, len(b.outputs), len(n.Outputs))
		}
		branches[i] = b
		for _, f := range b.free {
			if !seen[f.outer] {
				seen[f.outer] = true
				reads = append(reads, f.outer)
			}
		}
	}
	k := func(e *exec, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
		cond := in[0]
		if cond.Len() != 1 {
			return nil, fmt.Errorf("cond has %d elements, want 1", cond.Len())
		}
		b := branches[1]
		if cond.Float64At(0) != 0 {
			b = branches[0]
		}
		env := make([]*tensor.Tensor, b.nslots)
		for _, f := range b.free {
			env[f.inner] = e.env[f.outer]
		}
		if err := e.runBlock(b, env); err != nil {
			return nil, err
		}
		outs := make([]*tensor.Tensor, len(b.outputs))
		a := e.p.arena
		for i, s := range b.outputs {
			outs[i] = env[s]
			a.acquire(outs[i]) // the enclosing block's reference
		}
		done := map[int]bool{}
		for _, s := range b.outputs {
			if !done[s] {
				done[s] = true
				a.release(env[s]) // the branch's own reference
			}
		}
		return outs, nil
	}
	// The If instruction is created by the caller; record what it reads.
	c.pendingSubReads = reads
	return k, nil
}
