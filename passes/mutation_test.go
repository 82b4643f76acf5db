package passes_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/sdk/passtest"
	"github.com/graphpass/graphpass/validate"
)

// mutate applies one random change that keeps types consistent: rewire
// an input to another earlier value of the same type, swap the operands
// of a binary op, replace an op by another of the same signature, or
// change an attribute. Many mutants are near-misses of the patterns the
// passes match (a different op in the norm, a transposed operand, a mask
// that is not causal...), which is what this test is after.
func mutate(r *rand.Rand, g *graph.Graph) *graph.Graph {
	g = g.Clone()
	types, err := graph.Infer(g)
	if err != nil {
		return g
	}
	n := g.Nodes[r.Intn(len(g.Nodes))]
	unary := []string{"Identity", "Neg", "Silu", "Sigmoid", "Tanh", "Exp", "Abs"}
	binary := []string{"Add", "Mul", "Sub", "Max", "Min"}
	switch r.Intn(4) {
	case 0: // rewire
		if len(n.Inputs) == 0 {
			return g
		}
		i := r.Intn(len(n.Inputs))
		want := types[n.Inputs[i]]
		var cands []string
		for _, v := range g.Inputs {
			if v.Type.Equal(want) {
				cands = append(cands, v.Name)
			}
		}
		for _, m := range g.Nodes {
			if m == n {
				break
			}
			for _, o := range m.Outputs {
				if t, ok := types[o]; ok && t.Equal(want) {
					cands = append(cands, o)
				}
			}
		}
		if len(cands) > 0 {
			n.Inputs[i] = cands[r.Intn(len(cands))]
		}
	case 1: // swap operands
		if len(n.Inputs) == 2 {
			n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0]
		}
	case 2: // change the op
		for _, set := range [][]string{unary, binary} {
			for _, op := range set {
				if n.Op == op {
					n.Op = set[r.Intn(len(set))]
					return g
				}
			}
		}
	case 3: // change an attribute
		for _, k := range n.SortedAttrNames() {
			a := n.Attrs[k]
			switch a.Kind {
			case graph.AttrInt:
				a.Int = []int64{0, 1, -1, 2, 3}[r.Intn(5)]
			case graph.AttrFloat:
				a.Float = []float64{0, 0.1, 1}[r.Intn(3)]
			case graph.AttrInts:
				ints := append([]int64(nil), a.Ints...)
				if len(ints) > 0 {
					ints[r.Intn(len(ints))] = []int64{0, 1, -1, 2, 3}[r.Intn(5)]
				}
				a.Ints = ints
			default:
				continue
			}
			n.Attrs[k] = a
			if r.Intn(2) == 0 {
				break
			}
		}
	}
	return g
}

// TestPassesOnMutants runs the default passes (and gqa_cache_fix) on
// random mutants of real decoder graphs and checks every rewrite is exact:
// the graph before and after each pass generate the same logits, step by
// step. The mutants are near-misses a pattern must either handle exactly
// or leave alone.
func TestPassesOnMutants(t *testing.T) {
	bases := []*graph.Graph{
		testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{}),
		testmodels.Fixture(t, "llama-tiny-llama3rope", model.BuildOptions{MergedDecoder: true, AttentionOutputs: true}),
		testmodels.Synthetic(t, "gpt2-tiny", model.BuildOptions{}),
		testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{ExpandKVBeforeCache: true}),
	}
	trials := 24
	if testing.Short() {
		trials = 6
	}
	if n, err := strconv.Atoi(os.Getenv("GRAPHPASS_MUTANTS")); err == nil {
		trials = n // a longer search: GRAPHPASS_MUTANTS=2000 go test -run Mutants
	}
	seed := int64(20261125)
	if s, err := strconv.ParseInt(os.Getenv("GRAPHPASS_MUTANT_SEED"), 10, 64); err == nil {
		seed = s
	}
	names := append([]string{"gqa_cache_fix"}, passes.DefaultOrder...)
	// A real mistake shows as an error of 1e-2 or more; rounding in a
	// fused op is ~1e-7, but a mutant may amplify it (a variance of already
	// normalised values is ~0 and its rsqrt ~300): 2e-3 tells them apart.
	val := validate.New(validate.Options{Tol: 2e-3})
	defer val.Close()
	r := rand.New(rand.NewSource(seed))
	valid, compared, skipped, overflowed := 0, 0, 0, 0
	for trial := 0; trial < trials*3 && valid < trials; trial++ {
		g := bases[trial%len(bases)]
		for k := 0; k < 1+r.Intn(3); k++ {
			g = mutate(r, g)
		}
		if types, err := graph.VerifyTypes(g); err != nil || decodableTypes(g, types) != "" {
			continue
		}
		valid++
		for _, name := range names {
			b, _ := passes.Lookup(name)
			res, err := b.Pass.Run(g, nil, "")
			if err != nil {
				t.Fatalf("trial %d: pass %s failed on a valid mutant: %v", trial, name, err)
			}
			if !b.Pass.Triggered(g) && (len(res.Patch.Rewrites) > 0 || len(res.Notes) > 0) {
				// A host would have skipped the pass: its trigger ops
				// (Consumes) must cover everything it does.
				t.Fatalf("trial %d: pass %s is not triggered (consumes %v) but made %d rewrites and %d notes", trial, name, b.Pass.Consumes, len(res.Patch.Rewrites), len(res.Notes))
			}
			after, err := graph.Apply(g, res.Patch)
			if err != nil {
				t.Fatalf("trial %d: pass %s: %v", trial, name, err)
			}
			if len(res.Patch.Rewrites) == 0 {
				continue
			}
			if why := decodable(after); why != "" {
				t.Fatalf("trial %d: pass %s broke the decoder interface: %s; rewrites %v", trial, name, why, reasons(res.Patch))
			}
			compared++
			// Every rewrite must compute what it replaces: checked where it
			// is (package validate evaluates the replacement on the values
			// the graph before it computes), so that a mutant whose math
			// amplifies rounding (a variance of normalised values, ~0)
			// cannot hide or fake a difference; stateful rewrites are run
			// as decoder sessions.
			unrunnable := false
			for _, rw := range res.Patch.Rewrites {
				err := val.ValidateRewrite(context.Background(), g, rw)
				if errors.Is(err, validate.ErrCannotValidate) {
					unrunnable = true // e.g. a mutant gathering positions by token id
					break
				}
				if err != nil {
					t.Fatalf("trial %d: pass %s: %v", trial, name, err)
				}
			}
			if unrunnable {
				skipped++
				break
			}
			// And the whole graph still generates the same logits (loosely:
			// mutants may be ill-conditioned), which catches interface damage.
			diffs, err := passtest.CompareDecoding(g, after, 4, 2)
			if err != nil {
				t.Fatalf("trial %d: pass %s: %v", trial, name, err)
			}
			for step, d := range diffs {
				if d.NaN {
					// Overflow: a mutant like 2^x in a norm drives
					// activations to ±Inf, where the order of f32
					// operations decides between Inf and NaN. The local
					// check above already passed.
					overflowed++
					break
				}
				if d.Rel > 1e-2 {
					t.Fatalf("trial %d: pass %s changed the mutant's logits at step %d: %v; rewrites: %v", trial, name, step, d, reasons(res.Patch))
				}
			}
			g = after
		}
	}
	if valid < trials/2 {
		t.Errorf("only %d valid mutants", valid)
	}
	t.Logf("%d valid mutants through %d passes; %d patches validated numerically; %d mutants the CPU runtime cannot run; %d overflowing", valid, len(names), compared, skipped, overflowed)
}

// decodable checks what a generation loop needs of a decoder: every
// present.<i>.* output has its past_key_values.<i>.* input's type with the
// new tokens appended (dim 2: past → past+seq).
func decodable(g *graph.Graph) string {
	types, err := graph.Infer(g)
	if err != nil {
		return err.Error()
	}
	return decodableTypes(g, types)
}

// decodableTypes is decodable given the types of g's values (as inferred).
func decodableTypes(g *graph.Graph, types map[string]graph.TensorType) string {
	for _, in := range g.Inputs {
		rest, ok := strings.CutPrefix(in.Name, "past_key_values.")
		if !ok {
			continue
		}
		present := "present." + rest
		out, ok := types[present]
		if g.Output(present) == nil || !ok {
			continue // the runtime holds it, or it is simply not returned
		}
		want := in.Type
		want.Shape = in.Type.Shape.Clone()
		if want.Shape.Rank() == 4 {
			want.Shape[2] = want.Shape[2].Add(graph.S(graph.DimSeq))
		}
		if !out.Equal(want) {
			return fmt.Sprintf("%s is %s, %s needs %s", present, out, in.Name, want)
		}
	}
	return ""
}

func reasons(p *graph.Patch) []string {
	var out []string
	for _, rw := range p.Rewrites {
		out = append(out, rw.Reason)
	}
	return out
}
