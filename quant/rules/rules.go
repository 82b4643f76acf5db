// Package rules decides which weights of a decoder graph to quantize. It
// is shared by the quantize pass (which runs inside the WebAssembly
// sandbox, so this package depends on package graph alone) and by the
// checkpoint converter (package quant/convert), so both pick the same
// modules.
//
// Two policies exist. MLX (the default) is mlx-lm's converter: every
// Linear weight and the token embedding whose input dim divides by the
// group size. Seed is the seed library's QuantizeParams: rank-2 Linear
// weights only, input dim divisible by the group, both dims at least twice
// the group, and vocabulary-sized matrices (≥ 100,000 rows: embedding,
// lm_head) skipped unless embeddings are asked for.
package rules

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/graphpass/graphpass/graph"
)

// Kind is how the graph uses a weight.
type Kind int

const (
	Linear    Kind = iota // MatMul(x, W, transpose_b=1), W [out, in]
	Conv1D                // MatMul(x, W, transpose_b=0), W [in, out] (GPT-2)
	Embedding             // Gather(W, input_ids, axis=0), W [vocab, hidden]
)

func (k Kind) String() string {
	return [...]string{"linear", "conv1d", "embedding"}[k]
}

// Candidate is an initializer the graph reads only as a matrix operand:
// the right side of MatMul or a Gather table. A tied embedding is read
// both ways; Kind is then Embedding.
type Candidate struct {
	Name   string // initializer, e.g. "model.layers.0.mlp.up_proj.weight"
	Module string // Name without ".weight": the key MLX checkpoints use
	Kind   Kind
	Rows   int64 // N: outputs (vocab rows for an embedding)
	Cols   int64 // K: inputs, the dim groups run along
	DType  graph.DType
	// Uses are the nodes reading it, in graph order: MatMul with the weight
	// as input 1, or Gather with it as input 0.
	Uses []*graph.Node
	// Transposed is true for Conv1D: the stored matrix is [K, N].
	Transposed bool
}

// Candidates lists the initializers of g (top level) that every reader
// uses as a Linear/Conv1D weight or as the token embedding table (a Gather
// on input_ids; learned position tables are not candidates, as this
// project's loader reads them dense), in initializer order. A weight with any other reader (or read inside an If branch, or
// a MatMul whose orientation disagrees with another's) is not a candidate.
func Candidates(g *graph.Graph) []Candidate {
	ix := graph.NewIndex(g)
	var out []Candidate
	for _, in := range g.Initializers {
		if in.Type.Shape.Rank() != 2 || !in.Type.Shape.Static() || !in.Type.DType.IsFloat() {
			continue
		}
		uses := ix.Consumers(in.Name)
		if len(uses) == 0 || ix.IsOutput(in.Name) {
			continue
		}
		c := Candidate{Name: in.Name, Module: strings.TrimSuffix(in.Name, ".weight"), DType: in.Type.DType, Uses: uses}
		r, k := in.Type.Shape[0].Size, in.Type.Shape[1].Size
		ok, linear, conv, embed := true, false, false, false
		for _, n := range uses {
			switch {
			case n.Op == "MatMul" && n.Input(1) == in.Name && n.Input(0) != in.Name:
				if n.Int("transpose_b") != 0 {
					linear = true
				} else {
					conv = true
				}
			case n.Op == "Gather" && n.Input(0) == in.Name && n.Input(1) != in.Name && n.Int("axis") == 0 && n.Input(1) == graph.InputIDs:
				embed = true
			default:
				ok = false
			}
		}
		if !ok || (linear && conv) || (conv && embed) {
			continue
		}
		switch {
		case embed:
			c.Kind = Embedding
		case conv:
			c.Kind, c.Transposed = Conv1D, true
			r, k = k, r
		}
		c.Rows, c.Cols = r, k
		out = append(out, c)
	}
	return out
}

// Policy says which candidates to quantize and how.
type Policy struct {
	Bits      int // 2, 3, 4, 5, 6 or 8
	GroupSize int // 32, 64 or 128
	// Seed selects the seed library's stricter rules instead of mlx-lm's.
	Seed bool
	// SkipRows is the Seed rules' vocabulary threshold: matrices with at
	// least this many rows are skipped unless IncludeEmbeddings. 0 means
	// 100,000 (the seed's default).
	SkipRows int64
	// IncludeEmbeddings, with Seed, quantizes embedding tables and
	// vocabulary-sized matrices too.
	IncludeEmbeddings bool
	// Exclude holds glob patterns (path.Match syntax: * ? [...]); a
	// candidate whose Module or Name matches one stays dense, e.g. "lm_head",
	// "*.mlp.down_proj", "model.layers.0.*". Globs rather than regular
	// expressions keep the pass module small.
	Exclude []string
}

// DefaultSkipRows is the seed's vocabulary threshold.
const DefaultSkipRows = 100_000

// Check validates the policy.
func (p Policy) Check() error {
	if !slices.Contains(graph.QuantBits, int64(p.Bits)) {
		return fmt.Errorf("bits %d not supported (want one of %v)", p.Bits, graph.QuantBits)
	}
	if !slices.Contains(graph.QuantGroupSizes, int64(p.GroupSize)) {
		return fmt.Errorf("group size %d not supported (want one of %v)", p.GroupSize, graph.QuantGroupSizes)
	}
	if p.SkipRows < 0 {
		return fmt.Errorf("skip rows %d is negative", p.SkipRows)
	}
	for _, e := range p.Exclude {
		if _, err := path.Match(e, ""); err != nil {
			return fmt.Errorf("exclude pattern %q: %v", e, err)
		}
	}
	return nil
}

// Decision is the verdict on one candidate; Reason says why it stays
// dense (empty when quantized).
type Decision struct {
	Candidate
	Quantize bool
	Reason   string
}

// Decide applies p to every candidate.
func Decide(cands []Candidate, p Policy) ([]Decision, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	skipRows := p.SkipRows
	if skipRows == 0 {
		skipRows = DefaultSkipRows
	}
	g := int64(p.GroupSize)
	out := make([]Decision, len(cands))
	for i, c := range cands {
		d := Decision{Candidate: c}
		switch {
		case matchesAny(p.Exclude, c):
			d.Reason = "excluded by pattern"
		case c.Cols%g != 0:
			d.Reason = fmt.Sprintf("input dim %d is not divisible by group size %d", c.Cols, g)
		case !p.Seed:
			d.Quantize = true
		case c.Kind == Conv1D:
			d.Reason = "seed rules quantize transpose_b=1 Linear weights only (this is a Conv1D [in, out] weight)"
		case c.Kind == Embedding && !p.IncludeEmbeddings:
			d.Reason = "seed rules skip embedding tables unless embeddings are included"
		case c.Rows < 2*g || c.Cols < 2*g:
			d.Reason = fmt.Sprintf("seed rules need both dims ≥ 2×group size (%d): matrix is [%d, %d]", 2*g, c.Rows, c.Cols)
		case c.Rows >= skipRows && !p.IncludeEmbeddings:
			d.Reason = fmt.Sprintf("seed rules skip vocabulary-sized matrices (%d rows ≥ %d) unless embeddings are included", c.Rows, skipRows)
		default:
			d.Quantize = true
		}
		out[i] = d
	}
	return out, nil
}

func matchesAny(patterns []string, c Candidate) bool {
	for _, p := range patterns {
		if m, _ := path.Match(p, c.Module); m {
			return true
		}
		if m, _ := path.Match(p, c.Name); m {
			return true
		}
	}
	return false
}

// PackedTypes are the types of a quantized candidate's three tensors:
// packed u32 weight [N, K·bits/32], and scales and biases [N, K/group] in
// the weight's dtype (as graph.Derivation outputs 0, 1, 2).
func PackedTypes(c Candidate, bits, group int) (w, scales, biases graph.TensorType) {
	w = graph.T(graph.U32, graph.D(c.Rows), graph.D(c.Cols*int64(bits)/32))
	scales = graph.T(c.DType, graph.D(c.Rows), graph.D(c.Cols/int64(group)))
	return w, scales, scales
}
