package validate_test

import (
	"context"
	"errors"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes/quantize"
	"github.com/graphpass/graphpass/validate"
)

// TestQuantizeRewritesValidate: the quantize pass's rewrites are exact with
// respect to the dequantized weights, and the validator checks exactly that
// (a rewrite that quantized with other parameters than it declares would
// fail).
func TestQuantizeRewritesValidate(t *testing.T) {
	ck, err := model.Open("../testdata/fixtures/qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	g, err := ck.Graph(model.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	types, err := graph.Infer(g)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's matrices are small: quantize everything eligible with group 32.
	res, err := quantize.Pass.Run(g, types, `{"bits": 4, "group_size": 32, "include_embeddings": true}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Patch.Rewrites) == 0 {
		t.Fatalf("quantize rewrote nothing; notes %v", res.Notes)
	}
	v := validate.New(validate.Options{CacheDir: t.TempDir()})
	defer v.Close()
	for _, rw := range res.Patch.Rewrites {
		if err := v.ValidateRewrite(context.Background(), g, rw); err != nil {
			t.Fatalf("%s: %v", rw.Reason, err)
		}
	}
	// A replacement that does not compute the dequantized weights (scales
	// and biases swapped) must be caught.
	var bad graph.Rewrite
	for _, cand := range res.Patch.Rewrites {
		for _, n := range cand.AddNodes {
			if n.Op == "QuantizedMatMul" {
				bad = cand
			}
		}
	}
	if bad.Reason == "" {
		t.Fatal("no QuantizedMatMul rewrite")
	}
	bad.AddNodes = append([]*graph.Node(nil), bad.AddNodes...)
	for i, n := range bad.AddNodes {
		if n.Op == "QuantizedMatMul" {
			c := n.Clone()
			c.Inputs[2], c.Inputs[3] = c.Inputs[3], c.Inputs[2]
			bad.AddNodes[i] = c
		}
	}
	if err := v.ValidateRewrite(context.Background(), g, bad); !errors.Is(err, validate.ErrMismatch) {
		t.Fatalf("wrong quantized replacement accepted: %v", err)
	}
}
