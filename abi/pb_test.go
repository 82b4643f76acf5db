package abi_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/graphpass/graphpass/abi"
	pb "github.com/graphpass/graphpass/abi/abiv1pb"
	"github.com/graphpass/graphpass/graph"
)

// The converters below build protobuf-go messages from package graph values
// independently of the hand codec, so that the two encoders can be compared.

func pbType(t graph.TensorType) *pb.TensorType {
	out := &pb.TensorType{Dtype: pb.DType(t.DType)}
	for _, d := range t.Shape {
		out.Shape = append(out.Shape, &pb.Dim{Size: d.Size, Sym: d.Sym})
	}
	return out
}

func pbValueInfos(vs []graph.ValueInfo) []*pb.ValueInfo {
	var out []*pb.ValueInfo
	for _, v := range vs {
		out = append(out, &pb.ValueInfo{Name: v.Name, Type: pbType(v.Type)})
	}
	return out
}

func pbAttrs(attrs map[string]graph.Attr) []*pb.Attribute {
	var out []*pb.Attribute
	for _, k := range sortedNames(attrs) {
		a := attrs[k]
		p := &pb.Attribute{Name: k, Kind: pb.AttrKind(a.Kind)}
		switch a.Kind {
		case graph.AttrInt:
			p.I = a.Int
		case graph.AttrFloat:
			p.F = a.Float
		case graph.AttrString:
			p.S = a.Str
		case graph.AttrInts:
			p.Ints = a.Ints
		case graph.AttrFloats:
			p.Floats = a.Floats
		case graph.AttrStrings:
			p.Strings = a.Strings
		}
		out = append(out, p)
	}
	return out
}

func pbInitializer(in *graph.Initializer) *pb.Initializer {
	out := &pb.Initializer{Name: in.Name, Type: pbType(in.Type), Data: in.Data}
	if r := in.Ref; r != nil {
		out.Ref = &pb.WeightRef{File: r.File, Offset: r.Offset, Length: r.Length}
	}
	if d := in.Derive; d != nil {
		out.Derive = &pb.Derivation{Op: d.Op, Source: d.Source, Attrs: pbAttrs(d.Attrs), Output: int32(d.Output)}
	}
	return out
}

func pbNode(n *graph.Node) *pb.Node {
	out := &pb.Node{Name: n.Name, Op: n.Op, Inputs: n.Inputs, Outputs: n.Outputs, Attrs: pbAttrs(n.Attrs), Scope: n.Scope}
	for k, sg := range n.Subgraphs {
		if out.Subgraphs == nil {
			out.Subgraphs = map[string]*pb.Graph{}
		}
		out.Subgraphs[k] = pbGraph(sg, nil)
	}
	return out
}

func pbGraph(g *graph.Graph, types map[string]graph.TensorType) *pb.Graph {
	out := &pb.Graph{Name: g.Name, Inputs: pbValueInfos(g.Inputs), Outputs: pbValueInfos(g.Outputs), Metadata: g.Metadata}
	for _, in := range g.Initializers {
		out.Initializers = append(out.Initializers, pbInitializer(in))
	}
	for _, n := range g.Nodes {
		out.Nodes = append(out.Nodes, pbNode(n))
	}
	for _, k := range sortedNames(types) {
		out.ValueInfo = append(out.ValueInfo, &pb.ValueInfo{Name: k, Type: pbType(types[k])})
	}
	return out
}

func pbPatch(p *graph.Patch) *pb.Patch {
	out := &pb.Patch{}
	for _, rw := range p.Rewrites {
		r := &pb.Rewrite{Reason: rw.Reason, RemoveNodes: rw.RemoveNodes, RemoveInputs: rw.RemoveInputs, RemoveOutputs: rw.RemoveOutputs,
			SetInputTypes: pbValueInfos(rw.SetInputTypes), SetOutputTypes: pbValueInfos(rw.SetOutputTypes)}
		for _, n := range rw.AddNodes {
			r.AddNodes = append(r.AddNodes, pbNode(n))
		}
		for _, m := range rw.Remaps {
			r.Remaps = append(r.Remaps, &pb.Remap{From: m.From, To: m.To})
		}
		for _, in := range rw.AddInitializers {
			r.AddInitializers = append(r.AddInitializers, pbInitializer(in))
		}
		out.Rewrites = append(out.Rewrites, r)
	}
	return out
}

func pbRequest(r *abi.RunRequest) *pb.RunRequest {
	out := &pb.RunRequest{AbiVersion: r.ABIVersion, OptionsJson: r.OptionsJSON}
	if r.Graph != nil {
		out.Graph = pbGraph(r.Graph, r.ValueTypes)
	}
	return out
}

func pbResponse(r *abi.RunResponse) *pb.RunResponse {
	out := &pb.RunResponse{}
	if r.Patch != nil {
		out.Patch = pbPatch(r.Patch)
	}
	if r.Error != nil {
		out.Error = &pb.PassError{Code: r.Error.Code, Message: r.Error.Message}
	}
	for _, n := range r.Notes {
		out.Notes = append(out.Notes, &pb.Note{Node: n.Node, Message: n.Message})
	}
	return out
}

func pbInfo(p *abi.PassInfo) *pb.PassInfo {
	return &pb.PassInfo{AbiVersion: p.ABIVersion, Name: p.Name, Version: p.Version, Description: p.Description,
		OptionsSchemaJson: p.OptionsSchemaJSON, Consumes: p.Consumes, Produces: p.Produces}
}

func sortedNames[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// TestHandCodecAgreesWithProtobufGo checks, for every sample message, that
// (1) the hand encoder and protobuf-go's deterministic marshal of
// independently built messages give the same bytes, (2) protobuf-go parses
// the hand encoding into an equal message, and (3) the hand decoder parses
// protobuf-go's encoding back to the same value.
func TestHandCodecAgreesWithProtobufGo(t *testing.T) {
	tests := []struct {
		name   string
		hand   []byte
		msg    proto.Message
		empty  func() proto.Message
		rehand func([]byte) ([]byte, error) // hand decode, then hand encode
	}{
		{"graph", abi.EncodeGraph(sampleGraph()), pbGraph(sampleGraph(), nil), func() proto.Message { return &pb.Graph{} }, regraph},
		{"exotic graph", abi.EncodeGraph(exoticGraph()), pbGraph(exoticGraph(), nil), func() proto.Message { return &pb.Graph{} }, regraph},
		{"request", abi.EncodeRunRequest(sampleRequest()), pbRequest(sampleRequest()), func() proto.Message { return &pb.RunRequest{} }, rerequest},
		{"response", abi.EncodeRunResponse(sampleResponse()), pbResponse(sampleResponse()), func() proto.Message { return &pb.RunResponse{} }, reresponse},
		{"exotic response", abi.EncodeRunResponse(exoticResponse()), pbResponse(exoticResponse()), func() proto.Message { return &pb.RunResponse{} }, reresponse},
		{"info", abi.EncodePassInfo(sampleInfo()), pbInfo(sampleInfo()), func() proto.Message { return &pb.PassInfo{} }, reinfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := deterministic.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.hand, want) {
				t.Fatalf("hand encoding (%d bytes) differs from protobuf-go (%d bytes) at byte %d", len(tt.hand), len(want), firstDiff(tt.hand, want))
			}
			parsed := tt.empty()
			if err := proto.Unmarshal(tt.hand, parsed); err != nil {
				t.Fatalf("protobuf-go cannot parse the hand encoding: %v", err)
			}
			if !proto.Equal(parsed, tt.msg) && !hasNaN(tt.name) {
				t.Errorf("protobuf-go parses the hand encoding into a different message")
			}
			again, err := tt.rehand(want)
			if err != nil {
				t.Fatalf("hand decoder cannot parse protobuf-go's encoding: %v", err)
			}
			if !bytes.Equal(again, want) {
				t.Errorf("hand decode+encode of protobuf-go's bytes differs at byte %d", firstDiff(again, want))
			}
		})
	}
}

// hasNaN marks samples holding NaN attributes, which proto.Equal treats as
// unequal to themselves; their bytes are still compared exactly.
func hasNaN(name string) bool { return name == "exotic graph" || name == "exotic response" }

func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

func regraph(b []byte) ([]byte, error) {
	g, err := abi.DecodeGraph(b)
	if err != nil {
		return nil, err
	}
	return abi.EncodeGraph(g), nil
}

func rerequest(b []byte) ([]byte, error) {
	r, err := abi.DecodeRunRequest(b)
	if err != nil {
		return nil, err
	}
	return abi.EncodeRunRequest(r), nil
}

func reresponse(b []byte) ([]byte, error) {
	r, err := abi.DecodeRunResponse(b)
	if err != nil {
		return nil, err
	}
	return abi.EncodeRunResponse(r), nil
}

func reinfo(b []byte) ([]byte, error) {
	p, err := abi.DecodePassInfo(b)
	if err != nil {
		return nil, err
	}
	return abi.EncodePassInfo(p), nil
}
