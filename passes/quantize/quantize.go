// Package quantize is the quantize pass (opt-in): it rewrites the graph's
// matrix weights to MLX affine quantization. Each eligible MatMul weight W
// becomes three new initializers the host derives from W
// (graph.Derivation "affine_quantize", computed natively by package quant:
// weights never enter the sandbox) and every MatMul reading it becomes a
// QuantizedMatMul (a Gather on an embedding table a QuantizedGather).
//
// Eligibility is package quant/rules's: by default the seed's
// QuantizeParams rules (rank-2 weight used with transpose_b=1, input dim
// divisible by the group, both dims ≥ 2×group, vocabulary-sized matrices
// skipped unless include_embeddings); rules="mlx" selects like mlx-lm's
// converter instead. Weights left dense get a note saying why.
//
// Quantization changes the numbers by design: the rewritten graph computes
// exactly what the original computes with W replaced by its dequantized
// value scale·q + bias.
package quantize

import (
	"fmt"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant/rules"
	"github.com/graphpass/graphpass/sdk"
)

// DeriveOp is the derivation the host computes (quant.DeriveOp; repeated
// here so the module does not link the host-side quantizer).
const DeriveOp = "affine_quantize"

// Options are the pass's settings.
type Options struct {
	Bits              int      `json:"bits" doc:"bits per weight" enum:"2,3,4,5,6,8"`
	GroupSize         int      `json:"group_size" doc:"consecutive input weights sharing a scale and bias" enum:"32,64,128"`
	Exclude           []string `json:"exclude" doc:"glob patterns (* ? [...]) on module or weight names, e.g. *.mlp.down_proj; matching weights stay dense"`
	IncludeEmbeddings bool     `json:"include_embeddings" doc:"also quantize embedding tables and vocabulary-sized matrices (seed rules skip them)"`
	Rules             string   `json:"rules" doc:"seed: the seed's QuantizeParams eligibility; mlx: mlx-lm's converter (every Linear and the token embedding whose input dim divides by the group)" enum:"seed,mlx"`
	SkipRows          int      `json:"skip_rows" doc:"seed rules: matrices with at least this many rows count as vocabulary-sized" min:"1"`
}

// Pass quantizes weights.
var Pass = &sdk.Pass{
	Name:        "quantize",
	Version:     "1.0.0",
	Description: "quantize MatMul weights to MLX affine groups (QuantizedMatMul; host-derived packed weights)",
	Options:     &Options{Bits: 4, GroupSize: 64, Rules: "seed", SkipRows: rules.DefaultSkipRows},
	Consumes:    []string{"MatMul", "Gather"},
	Produces:    []string{"QuantizedMatMul", "QuantizedGather"},
	Rules:       []sdk.Rule{{Name: "quantize", Func: run}},
}

func run(c *sdk.Context) error {
	o := sdk.Options[Options](c)
	policy := rules.Policy{Bits: o.Bits, GroupSize: o.GroupSize, Seed: o.Rules != "mlx",
		SkipRows: int64(o.SkipRows), IncludeEmbeddings: o.IncludeEmbeddings, Exclude: o.Exclude}
	if err := policy.Check(); err != nil {
		return &sdk.Error{Code: sdk.CodeInvalidOptions, Message: err.Error()}
	}
	v := c.View()
	decisions, err := rules.Decide(rules.Candidates(v.Graph()), policy)
	if err != nil {
		return err
	}
	for _, d := range decisions {
		if !d.Quantize {
			c.Note(d.Uses[0].Name, "%s stays dense: %s", d.Name, d.Reason)
			continue
		}
		if err := quantizeWeight(c, d, o); err != nil {
			return err
		}
	}
	return nil
}

func quantizeWeight(c *sdk.Context, d rules.Decision, o *Options) error {
	rw := c.NewRewrite(fmt.Sprintf("quantize %s [%d, %d] (%s) to %d bits, group %d", d.Name, d.Rows, d.Cols, d.Kind, o.Bits, o.GroupSize))
	attrs := map[string]graph.Attr{"bits": graph.Int(int64(o.Bits)), "group_size": graph.Int(int64(o.GroupSize))}
	if d.Transposed {
		attrs["transpose"] = graph.Int(1)
	}
	types := [3]graph.TensorType{}
	types[0], types[1], types[2] = rules.PackedTypes(d.Candidate, o.Bits, o.GroupSize)
	var names [3]string
	for i, suffix := range []string{".qweight", ".scales", ".biases"} {
		names[i] = rw.AddInitializer(&graph.Initializer{
			Name: c.FreshValueName(d.Module + suffix), Type: types[i],
			Derive: &graph.Derivation{Op: DeriveOp, Source: d.Name, Attrs: attrs, Output: i}})
	}
	qattrs := map[string]graph.Attr{"bits": graph.Int(int64(o.Bits)), "group_size": graph.Int(int64(o.GroupSize))}
	for _, n := range d.Uses {
		rw.Scope(n.Scope, "")
		var out string
		switch n.Op {
		case "MatMul":
			out = rw.Add("QuantizedMatMul", []string{n.Input(0), names[0], names[1], names[2]}, qattrs)
		case "Gather":
			// An embedding read as f32 (every reader a Cast to f32, as model
			// builders emit) is dequantized straight to f32, as
			// QuantizedMatMul computes; otherwise the output keeps the
			// table's dtype.
			casts := f32Casts(c.View(), n.Outputs[0])
			ga := qattrs
			if casts != nil {
				ga = map[string]graph.Attr{"bits": qattrs["bits"], "group_size": qattrs["group_size"], "dtype": graph.String("f32")}
			}
			out = rw.Add("QuantizedGather", []string{names[0], names[1], names[2], n.Input(1)}, ga)
			for _, cast := range casts {
				rw.Replace(cast, out)
			}
		default:
			return fmt.Errorf("%s: unexpected reader %s (%s)", d.Name, n.Name, n.Op)
		}
		rw.Replace(n, out)
	}
	return c.Commit(rw)
}

// f32Casts returns the readers of v when all of them are Cast(to=f32) and
// v is no graph output, else nil.
func f32Casts(v *sdk.View, value string) []*graph.Node {
	readers := v.Consumers(value)
	if len(readers) == 0 || v.IsOutput(value) {
		return nil
	}
	for _, r := range readers {
		if r.Op != "Cast" {
			return nil
		}
		if dt, err := graph.ParseDType(r.Str("to")); err != nil || dt != graph.F32 {
			return nil
		}
	}
	return readers
}
