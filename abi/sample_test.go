package abi_test

import (
	"encoding/binary"
	"math"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// f32s returns the little-endian bytes of vs.
func f32s(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// sampleGraph is a small graph that verifies: RMSNorm spelled out in
// primitives, a Dropout, and an If with two branches, plus weights held by
// reference, a derived initializer and a zero-element constant.
func sampleGraph() *graph.Graph {
	hidden := graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(8))
	return &graph.Graph{
		Name: "sample",
		Inputs: []graph.ValueInfo{
			{Name: "x", Type: hidden},
			{Name: graph.UseCacheBranch, Type: graph.T(graph.Bool, graph.D(1))},
		},
		Outputs: []graph.ValueInfo{{Name: "z", Type: hidden}},
		Initializers: []*graph.Initializer{
			{Name: "norm.weight", Type: graph.T(graph.F32, graph.D(8)), Data: f32s(1, 1.5, 2, -1, 0.25, 3, 1, 1)},
			{Name: "eps", Type: graph.T(graph.F32), Data: f32s(1e-6)},
			{Name: "empty", Type: graph.T(graph.F32, graph.D(0)), Data: []byte{}},
			{Name: "proj.weight", Type: graph.T(graph.BF16, graph.D(64), graph.D(8)),
				Ref: &graph.WeightRef{File: "/models/m/model.safetensors", Offset: 4096, Length: 1024}},
			{Name: "proj.weight.q", Type: graph.T(graph.U32, graph.D(64), graph.D(1)),
				Derive: &graph.Derivation{Op: "affine_quantize", Source: "proj.weight",
					Attrs: map[string]graph.Attr{"bits": graph.Int(4), "group_size": graph.Int(8)}}},
		},
		Nodes: []*graph.Node{
			{Name: "sq", Op: "Mul", Inputs: []string{"x", "x"}, Outputs: []string{"sq_out"}, Scope: "model.norm"},
			{Name: "mean", Op: "ReduceMean", Inputs: []string{"sq_out"}, Outputs: []string{"mean_out"},
				Attrs: map[string]graph.Attr{"axes": graph.Ints(-1), "keepdims": graph.Int(1)}, Scope: "model.norm"},
			{Name: "add_eps", Op: "Add", Inputs: []string{"mean_out", "eps"}, Outputs: []string{"add_out"}, Scope: "model.norm"},
			{Name: "rsqrt", Op: "Rsqrt", Inputs: []string{"add_out"}, Outputs: []string{"rsqrt_out"}, Scope: "model.norm"},
			{Name: "scale", Op: "Mul", Inputs: []string{"x", "rsqrt_out"}, Outputs: []string{"scaled"}, Scope: "model.norm"},
			{Name: "weigh", Op: "Mul", Inputs: []string{"scaled", "norm.weight"}, Outputs: []string{"normed"}, Scope: "model.norm"},
			{Name: "drop", Op: "Dropout", Inputs: []string{"normed"}, Outputs: []string{"dropped"},
				Attrs: map[string]graph.Attr{"rate": graph.Float(0.1)}, Scope: "model.dropout"},
			{Name: "branch", Op: "If", Inputs: []string{graph.UseCacheBranch}, Outputs: []string{"z"},
				Subgraphs: map[string]*graph.Graph{
					"then_branch": {Name: "then",
						Outputs: []graph.ValueInfo{{Name: "then_out", Type: hidden}},
						Nodes:   []*graph.Node{{Name: "then_id", Op: "Identity", Inputs: []string{"dropped"}, Outputs: []string{"then_out"}}}},
					"else_branch": {Name: "else",
						Outputs: []graph.ValueInfo{{Name: "else_out", Type: hidden}},
						Nodes:   []*graph.Node{{Name: "else_neg", Op: "Neg", Inputs: []string{"dropped"}, Outputs: []string{"else_out"}}}},
				}},
		},
		Metadata: map[string]string{graph.MetaArchitecture: "Sample", graph.MetaNumLayers: "1", graph.MetaRopeTheta: "1e+06"},
	}
}

// exoticGraph exercises every corner of the encoding rather than forming a
// meaningful graph: all attribute kinds with extreme values, empty strings,
// omitted optional inputs, unknown and symbolic dims, negative numbers,
// -0, NaN and infinities, non-ASCII text, nested subgraphs.
func exoticGraph() *graph.Graph {
	return &graph.Graph{
		Name:    "exotic ✓",
		Inputs:  []graph.ValueInfo{{Name: "a", Type: graph.T(graph.F16, graph.Unknown, graph.S("past+seq+1"), graph.D(0), graph.D(math.MaxInt64))}},
		Outputs: []graph.ValueInfo{{Name: "", Type: graph.TensorType{}}},
		Initializers: []*graph.Initializer{
			{Name: "scalar", Type: graph.T(graph.I64), Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
			{Name: "nothing"},
			{Name: "neg-ref", Ref: &graph.WeightRef{Offset: -1, Length: -5}},
			{Name: "deriv", Derive: &graph.Derivation{Output: -3}},
		},
		Nodes: []*graph.Node{
			{Name: "n0", Op: "Everything", Inputs: []string{"a", "", "b"}, Outputs: []string{"", "o"},
				Attrs: map[string]graph.Attr{
					"i_min":      graph.Int(math.MinInt64),
					"i_max":      graph.Int(math.MaxInt64),
					"i_zero":     graph.Int(0),
					"f_negzero":  graph.Float(math.Copysign(0, -1)),
					"f_nan":      graph.Float(math.NaN()),
					"f_inf":      graph.Float(math.Inf(-1)),
					"f_tiny":     graph.Float(math.SmallestNonzeroFloat64),
					"s":          graph.String("héllo\x00world"),
					"s_empty":    graph.String(""),
					"ints":       graph.Ints(-1, 0, 1, math.MaxInt64, math.MinInt64),
					"ints_empty": graph.Ints(),
					"floats":     graph.Floats(0, math.Copysign(0, -1), 1.5, math.Inf(1)),
					"strings":    graph.Strings("", "x", "日本"),
					"invalid":    {},
				},
				Subgraphs: map[string]*graph.Graph{
					"b": {Nodes: []*graph.Node{{Name: "deep", Op: "If",
						Subgraphs: map[string]*graph.Graph{"c": {Name: "deepest"}, "": {}}}}},
					"a": {Name: "first"},
				}},
			{},
		},
		Metadata: map[string]string{"": "", "z": "last", "a": "first"},
	}
}

func sampleValueTypes() map[string]graph.TensorType {
	types, err := graph.Infer(sampleGraph())
	if err != nil {
		panic(err)
	}
	return types
}

func sampleRequest() *abi.RunRequest {
	return &abi.RunRequest{ABIVersion: abi.Version1, Graph: sampleGraph(), ValueTypes: sampleValueTypes(),
		OptionsJSON: `{"eps_tolerance":1e-5,"only":["model.norm"]}`}
}

// samplePatch fuses the primitive RMSNorm of sampleGraph and drops the
// dropout, the way the rms_norm and dropout passes would.
func samplePatch() *graph.Patch {
	return &graph.Patch{Rewrites: []graph.Rewrite{
		{
			Reason:      "RMSNorm at model.norm",
			RemoveNodes: []string{"sq", "mean", "add_eps", "rsqrt", "scale", "weigh"},
			AddNodes: []*graph.Node{{Name: "model.norm.rms_norm", Op: "RMSNorm", Inputs: []string{"x", "norm.weight"},
				Outputs: []string{"model.norm.rms_norm.out"}, Attrs: map[string]graph.Attr{"eps": graph.Float(1e-6)}, Scope: "model.norm"}},
			Remaps: []graph.Remap{{From: "normed", To: "model.norm.rms_norm.out"}},
		},
		{
			Reason:      "Dropout at model.dropout (inference: identity)",
			RemoveNodes: []string{"drop"},
			Remaps:      []graph.Remap{{From: "dropped", To: "model.norm.rms_norm.out"}},
		},
	}}
}

func sampleResponse() *abi.RunResponse {
	return &abi.RunResponse{
		Patch: samplePatch(),
		Notes: []abi.Note{{Node: "branch", Message: "If(use_cache_branch) left alone: if_present runs later"}},
	}
}

// exoticResponse covers every Rewrite field and the error branch.
func exoticResponse() *abi.RunResponse {
	return &abi.RunResponse{
		Patch: &graph.Patch{Rewrites: []graph.Rewrite{
			{},
			{
				Reason:      "everything",
				RemoveNodes: []string{"", "n"},
				AddNodes:    exoticGraph().Nodes,
				Remaps:      []graph.Remap{{From: "a", To: "b"}, {}},
				AddInitializers: []*graph.Initializer{
					{Name: "k", Type: graph.T(graph.I32, graph.D(2)), Data: []byte{1, 0, 0, 0, 2, 0, 0, 0}},
					{Name: "q", Type: graph.T(graph.U32, graph.D(4), graph.D(1)), Derive: &graph.Derivation{Op: "affine_quantize", Source: "w",
						Attrs: map[string]graph.Attr{"bits": graph.Int(4), "group_size": graph.Int(32)}, Output: 2}},
				},
				RemoveInputs:   []string{graph.UseCacheBranch},
				RemoveOutputs:  []string{graph.Attentions(0), graph.Attentions(1)},
				SetInputTypes:  []graph.ValueInfo{{Name: "x", Type: graph.T(graph.BF16, graph.S("batch"))}},
				SetOutputTypes: []graph.ValueInfo{{Name: "y", Type: graph.T(graph.F32)}},
			},
		}},
		Error: &abi.PassError{Code: abi.CodeInvalidOptions, Message: `option "bits": want 2, 3, 4, 5, 6 or 8, got 7`},
		Notes: []abi.Note{{}, {Node: "n", Message: "sliding window"}},
	}
}

func sampleInfo() *abi.PassInfo {
	return &abi.PassInfo{
		ABIVersion:        abi.Version1,
		Name:              "rms_norm",
		Version:           "1.0.0",
		Description:       "Fuses x * rsqrt(mean(x^2) + eps) * w into RMSNorm (mlx.fast.rms_norm).",
		OptionsSchemaJSON: `{"type":"object","properties":{"min_eps":{"type":"number"}},"additionalProperties":false}`,
		Consumes:          []string{"Mul", "ReduceMean", "Add", "Rsqrt"},
		Produces:          []string{"RMSNorm"},
	}
}
