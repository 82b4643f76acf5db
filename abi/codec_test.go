package abi_test

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

func TestSampleGraphVerifies(t *testing.T) {
	if err := graph.Verify(sampleGraph()); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.Apply(sampleGraph(), samplePatch()); err != nil {
		t.Fatalf("sample patch does not apply: %v", err)
	}
}

// TestRoundTrip decodes each encoding and checks the result equals the
// original (deeply, where the value has no NaN) and re-encodes to the same
// bytes.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		value  any
		encode func(any) []byte
		decode func([]byte) (any, error)
		deep   bool
	}{
		{"graph", sampleGraph(), encGraph, decGraph, true},
		{"exotic graph", exoticGraph(), encGraph, decGraph, false},
		{"empty graph", &graph.Graph{}, encGraph, decGraph, true},
		{"request", sampleRequest(), encReq, decReq, true},
		{"empty request", &abi.RunRequest{}, encReq, decReq, true},
		{"response", sampleResponse(), encResp, decResp, true},
		{"exotic response", exoticResponse(), encResp, decResp, false},
		{"empty response", &abi.RunResponse{}, encResp, decResp, true},
		{"empty patch", &abi.RunResponse{Patch: &graph.Patch{}}, encResp, decResp, true},
		{"info", sampleInfo(), encInfo, decInfo, true},
		{"empty info", &abi.PassInfo{}, encInfo, decInfo, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.encode(tt.value)
			got, err := tt.decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if tt.deep && !reflect.DeepEqual(got, tt.value) {
				t.Errorf("decoded value differs:\n got  %#v\n want %#v", got, tt.value)
			}
			if b2 := tt.encode(got); !bytes.Equal(b, b2) {
				t.Errorf("re-encoding differs: %d bytes vs %d", len(b2), len(b))
			}
		})
	}
}

func encGraph(v any) []byte { return abi.EncodeGraph(v.(*graph.Graph)) }
func encReq(v any) []byte   { return abi.EncodeRunRequest(v.(*abi.RunRequest)) }
func encResp(v any) []byte  { return abi.EncodeRunResponse(v.(*abi.RunResponse)) }
func encInfo(v any) []byte  { return abi.EncodePassInfo(v.(*abi.PassInfo)) }

func decGraph(b []byte) (any, error) { return abi.DecodeGraph(b) }
func decReq(b []byte) (any, error)   { return abi.DecodeRunRequest(b) }
func decResp(b []byte) (any, error)  { return abi.DecodeRunResponse(b) }
func decInfo(b []byte) (any, error)  { return abi.DecodePassInfo(b) }

func TestEncodingIsDeterministic(t *testing.T) {
	// Maps iterate in random order; encode many times.
	want := abi.EncodeRunRequest(sampleRequest())
	for i := 0; i < 20; i++ {
		if got := abi.EncodeRunRequest(sampleRequest()); !bytes.Equal(got, want) {
			t.Fatalf("encoding %d differs from the first", i)
		}
		if !bytes.Equal(abi.EncodeGraph(exoticGraph()), abi.EncodeGraph(exoticGraph())) {
			t.Fatal("exotic graph encodes differently twice")
		}
	}
}

// TestLargeMessageLength covers lengths that need multi-byte varints (the
// encoder shifts the body after reserving one byte).
func TestLargeMessageLength(t *testing.T) {
	for _, n := range []int{0, 1, 126, 127, 128, 16383, 16384, 1 << 21} {
		g := &graph.Graph{Initializers: []*graph.Initializer{{Name: "w", Type: graph.T(graph.U8, graph.D(int64(n))), Data: make([]byte, n)}}}
		for i := range g.Initializers[0].Data {
			g.Initializers[0].Data[i] = byte(i * 7)
		}
		got, err := abi.DecodeGraph(abi.EncodeGraph(g))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !reflect.DeepEqual(got, g) {
			t.Fatalf("n=%d: round trip differs", n)
		}
	}
}

func TestValueTypesTravelInValueInfo(t *testing.T) {
	req := sampleRequest()
	got, err := abi.DecodeRunRequest(abi.EncodeRunRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ValueTypes) != len(req.ValueTypes) || len(got.ValueTypes) < len(sampleGraph().Nodes) {
		t.Fatalf("got %d value types, want %d", len(got.ValueTypes), len(req.ValueTypes))
	}
	if typ := got.ValueTypes["mean_out"]; !typ.Equal(graph.T(graph.F32, graph.S("batch"), graph.S("seq"), graph.D(1))) {
		t.Errorf("mean_out: %s", typ)
	}
	// DecodeGraph reads the same Graph message, ignoring value_info.
	b := abi.EncodeRunRequest(req)
	var graphBytes []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if num == 2 {
			graphBytes, _ = protowire.ConsumeBytes(b)
		}
		b = b[n:]
	}
	g, err := abi.DecodeGraph(graphBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, req.Graph) {
		t.Error("graph inside the request decodes differently")
	}
}

// TestUnknownFieldsAreSkipped is the forward-compatibility promise inside
// v1: a newer writer may add fields; an older reader ignores them.
func TestUnknownFieldsAreSkipped(t *testing.T) {
	b := abi.EncodePassInfo(sampleInfo())
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 12345)
	b = protowire.AppendTag(b, 100, protowire.BytesType)
	b = protowire.AppendString(b, "future")
	b = protowire.AppendTag(b, 101, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 7)
	b = protowire.AppendTag(b, 102, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 103, protowire.StartGroupType)
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 103, protowire.EndGroupType)
	got, err := abi.DecodePassInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleInfo()) {
		t.Errorf("got %+v", got)
	}
}

// TestUnpackedRepeatedNumbers: protobuf readers must accept repeated
// numbers both packed and unpacked.
func TestUnpackedRepeatedNumbers(t *testing.T) {
	var attr []byte
	attr = protowire.AppendTag(attr, 1, protowire.BytesType)
	attr = protowire.AppendString(attr, "axes")
	attr = protowire.AppendTag(attr, 2, protowire.VarintType)
	attr = protowire.AppendVarint(attr, uint64(graph.AttrInts))
	for _, v := range []int64{-1, 2} {
		attr = protowire.AppendTag(attr, 6, protowire.VarintType)
		attr = protowire.AppendVarint(attr, uint64(v))
	}
	attr = protowire.AppendTag(attr, 7, protowire.Fixed64Type)
	attr = protowire.AppendFixed64(attr, 0x3ff0000000000000) // 1.0
	var node []byte
	node = protowire.AppendTag(node, 5, protowire.BytesType)
	node = protowire.AppendBytes(node, attr)
	var g []byte
	g = protowire.AppendTag(g, 5, protowire.BytesType)
	g = protowire.AppendBytes(g, node)
	got, err := abi.DecodeGraph(g)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Nodes[0].Attrs["axes"]
	if !reflect.DeepEqual(a.Ints, []int64{-1, 2}) || !reflect.DeepEqual(a.Floats, []float64{1}) {
		t.Errorf("got %+v", a)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := abi.EncodeRunResponse(sampleResponse())
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"truncated", valid[:len(valid)-3], "RunResponse"},
		{"bad tag", []byte{0x80}, "bad field tag"},
		{"field zero", []byte{0x00, 0x01}, "bad field tag"},
		{"length past end", cat(tag(1, protowire.BytesType), []byte{0x10, 1, 2}), "field 1"},
		{"patch as varint", cat(tag(1, protowire.VarintType), []byte{1}), "field patch (1) has wire type varint, want bytes"},
		{"wire type 7", []byte{0x0f}, "invalid wire type"},
		{"unterminated group", cat(tag(50, protowire.StartGroupType)), "field 50"},
		{"nested bad reason", cat(tag(1, protowire.BytesType), []byte{4}, tag(1, protowire.BytesType), []byte{2}, tag(1, protowire.VarintType), []byte{5}),
			"at patch.rewrites[0]: field reason (1) has wire type varint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := abi.DecodeRunResponse(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, abi.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeErrorNamesThePath(t *testing.T) {
	// A request whose graph's third node's attribute has a float written as a varint.
	g := sampleGraph()
	g.Nodes[2].Attrs = map[string]graph.Attr{"x": graph.Int(77)}
	b := abi.EncodeRunRequest(&abi.RunRequest{Graph: g})
	// Flip the attribute's field 3 (i, varint) into field 4 (f, wants fixed64).
	i := bytes.Index(b, []byte{0x10, byte(graph.AttrInt), 0x18, 77})
	if i < 0 {
		t.Fatal("attribute not found in encoding")
	}
	b[i+2] = 0x20
	_, err := abi.DecodeRunRequest(b)
	want := "abi: malformed RunRequest at graph.nodes[2].attrs[0]: field f (4) has wire type varint, want fixed64"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestSubgraphDepthIsBounded(t *testing.T) {
	g := &graph.Graph{}
	for i := 0; i < 100; i++ {
		g = &graph.Graph{Nodes: []*graph.Node{{Name: "n", Op: "If", Subgraphs: map[string]*graph.Graph{"then_branch": g}}}}
	}
	_, err := abi.DecodeGraph(abi.EncodeGraph(g))
	if !errors.Is(err, abi.ErrMalformed) || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("got %v", err)
	}
}

func TestDTypeOutOfRange(t *testing.T) {
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, 256)
	var vi []byte
	vi = protowire.AppendTag(vi, 2, protowire.BytesType)
	vi = protowire.AppendBytes(vi, tt)
	var g []byte
	g = protowire.AppendTag(g, 2, protowire.BytesType)
	g = protowire.AppendBytes(g, vi)
	_, err := abi.DecodeGraph(g)
	if err == nil || !strings.Contains(err.Error(), "inputs[0].type: dtype 256 out of range") {
		t.Fatalf("got %v", err)
	}
}

func TestPassErrorString(t *testing.T) {
	e := &abi.PassError{Code: abi.CodeInvalidOptions, Message: "bad"}
	if e.Error() != "invalid_options: bad" {
		t.Error(e.Error())
	}
	if (&abi.PassError{Message: "bad"}).Error() != "bad" {
		t.Error("no code")
	}
}

// TestDecodeBoundsMemory: millions of empty sub-messages (two bytes each)
// must not decode into gigabytes. Each input is rejected, or decodes
// within MaxExpansion times its size (plus growth slack).
func TestDecodeBoundsMemory(t *testing.T) {
	rep := func(unit []byte, n int) []byte {
		return bytes.Repeat(unit, n/len(unit))
	}
	wrap := func(num protowire.Number, inner []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
	}
	const n = 1 << 20
	tests := map[string][]byte{
		"empty rewrites":     wrap(1, rep([]byte{0x0a, 0x00}, n)),
		"empty add_nodes":    wrap(1, wrap(1, rep([]byte{0x1a, 0x00}, n))),
		"empty remove_nodes": wrap(1, wrap(1, rep([]byte{0x12, 0x00}, n))),
		"empty notes":        rep([]byte{0x1a, 0x00}, n),
		"empty remaps":       wrap(1, wrap(1, rep([]byte{0x22, 0x00}, n))),
		"empty node inputs":  wrap(1, wrap(1, wrap(3, rep([]byte{0x1a, 0x00}, n)))),
		"empty dims":         wrap(1, wrap(1, wrap(8, wrap(2, rep([]byte{0x12, 0x00}, n))))),
		"empty attributes":   wrap(1, wrap(1, wrap(3, rep([]byte{0x2a, 0x00}, n)))),
		"unpacked ints":      wrap(1, wrap(1, wrap(3, wrap(5, rep([]byte{0x30, 0x00}, n))))),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			_, err := abi.DecodeRunResponse(b)
			runtime.ReadMemStats(&m1)
			ratio := float64(m1.TotalAlloc-m0.TotalAlloc) / float64(len(b))
			t.Logf("%v; allocated %.1f× the input", err, ratio)
			if err != nil && !errors.Is(err, abi.ErrMalformed) {
				t.Fatal(err)
			}
			if ratio > 4*abi.MaxExpansion {
				t.Errorf("allocated %.0f× the input", ratio)
			}
		})
	}
}

// TestRunRequestInTwoParts: the graph part and the options field together
// are EncodeRunRequest's bytes, for any options.
func TestRunRequestInTwoParts(t *testing.T) {
	req := sampleRequest()
	prefix := abi.EncodeRunRequestGraph(req.ABIVersion, req.Graph, req.ValueTypes)
	for _, opts := range []string{"", "{}", `{"rate": 0.5, "names": ["a", "b"]}`} {
		r := *req
		r.OptionsJSON = opts
		want := abi.EncodeRunRequest(&r)
		got := abi.AppendRunRequestOptions(append([]byte(nil), prefix...), opts)
		if !bytes.Equal(got, want) {
			t.Errorf("options %q: two-part encoding differs", opts)
		}
	}
}
