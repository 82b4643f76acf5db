package abi

import (
	"math"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graphpass/graphpass/graph"
)

// Field numbers of graph.proto. They are ABI: never change one.
const (
	fDimSize = 1
	fDimSym  = 2

	fTypeDType = 1
	fTypeShape = 2

	fVIName = 1
	fVIType = 2

	fAttrName    = 1
	fAttrKind    = 2
	fAttrInt     = 3
	fAttrFloat   = 4
	fAttrStr     = 5
	fAttrInts    = 6
	fAttrFloats  = 7
	fAttrStrings = 8

	fRefFile   = 1
	fRefOffset = 2
	fRefLength = 3

	fDerivOp     = 1
	fDerivSource = 2
	fDerivAttrs  = 3
	fDerivOutput = 4

	fInitName   = 1
	fInitType   = 2
	fInitData   = 3
	fInitRef    = 4
	fInitDerive = 5

	fNodeName      = 1
	fNodeOp        = 2
	fNodeInputs    = 3
	fNodeOutputs   = 4
	fNodeAttrs     = 5
	fNodeScope     = 6
	fNodeSubgraphs = 7

	fGraphName         = 1
	fGraphInputs       = 2
	fGraphOutputs      = 3
	fGraphInitializers = 4
	fGraphNodes        = 5
	fGraphMetadata     = 6
	fGraphValueInfo    = 7

	fMapKey   = 1
	fMapValue = 2

	fRemapFrom = 1
	fRemapTo   = 2

	fRwReason          = 1
	fRwRemoveNodes     = 2
	fRwAddNodes        = 3
	fRwRemaps          = 4
	fRwAddInitializers = 5
	fRwRemoveInputs    = 6
	fRwRemoveOutputs   = 7
	fRwSetInputTypes   = 8
	fRwSetOutputTypes  = 9

	fPatchRewrites = 1

	fReqABIVersion  = 1
	fReqGraph       = 2
	fReqOptionsJSON = 3

	fErrCode    = 1
	fErrMessage = 2

	fNoteNode    = 1
	fNoteMessage = 2

	fRespPatch = 1
	fRespError = 2
	fRespNotes = 3

	fInfoABIVersion  = 1
	fInfoName        = 2
	fInfoVersion     = 3
	fInfoDescription = 4
	fInfoOptionsJSON = 5
	fInfoConsumes    = 6
	fInfoProduces    = 7
)

// EncodeRunRequest encodes r. The request's ValueTypes become the graph's
// value_info, sorted by name.
func EncodeRunRequest(r *RunRequest) []byte {
	var b []byte
	if r.Graph != nil {
		b = make([]byte, 0, sizeHint(r.Graph, len(r.ValueTypes))+len(r.OptionsJSON))
	}
	b = appendUint(b, fReqABIVersion, uint64(r.ABIVersion))
	if r.Graph != nil {
		b = appendMessage(b, fReqGraph, func(b []byte) []byte { return appendGraph(b, r.Graph, r.ValueTypes) })
	}
	b = appendString(b, fReqOptionsJSON, r.OptionsJSON)
	return b
}

// EncodeRunResponse encodes r.
func EncodeRunResponse(r *RunResponse) []byte {
	var b []byte
	if r.Patch != nil {
		b = appendMessage(b, fRespPatch, func(b []byte) []byte { return appendPatch(b, r.Patch) })
	}
	if r.Error != nil {
		b = appendMessage(b, fRespError, func(b []byte) []byte {
			b = appendString(b, fErrCode, r.Error.Code)
			return appendString(b, fErrMessage, r.Error.Message)
		})
	}
	for _, n := range r.Notes {
		b = appendMessage(b, fRespNotes, func(b []byte) []byte {
			b = appendString(b, fNoteNode, n.Node)
			return appendString(b, fNoteMessage, n.Message)
		})
	}
	return b
}

// EncodePassInfo encodes p.
func EncodePassInfo(p *PassInfo) []byte {
	var b []byte
	b = appendUint(b, fInfoABIVersion, uint64(p.ABIVersion))
	b = appendString(b, fInfoName, p.Name)
	b = appendString(b, fInfoVersion, p.Version)
	b = appendString(b, fInfoDescription, p.Description)
	b = appendString(b, fInfoOptionsJSON, p.OptionsSchemaJSON)
	b = appendStrings(b, fInfoConsumes, p.Consumes)
	b = appendStrings(b, fInfoProduces, p.Produces)
	return b
}

// EncodeGraph encodes g as an abi.v1.Graph message (without value_info).
func EncodeGraph(g *graph.Graph) []byte {
	return appendGraph(make([]byte, 0, sizeHint(g, 0)), g, nil)
}

// sizeHint guesses the encoded size of g, to allocate the buffer once:
// about 200 bytes a node, 64 a value type, plus inline data.
func sizeHint(g *graph.Graph, types int) int {
	n := 256 + 200*len(g.Nodes) + 64*(types+len(g.Inputs)+len(g.Outputs))
	for _, in := range g.Initializers {
		if in != nil {
			n += 64 + len(in.Data)
		}
	}
	return n
}

// EncodePatch encodes p as an abi.v1.Patch message.
func EncodePatch(p *graph.Patch) []byte {
	return appendPatch(nil, p)
}

// appendMessage appends field num holding the message that body appends.
// It reserves one byte for the length and shifts the body in the rare case
// the length needs more, so nested messages cost no temporary buffers.
func appendMessage(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - start - 1
	if sz := protowire.SizeVarint(uint64(n)); sz > 1 {
		b = append(b, make([]byte, sz-1)...)
		copy(b[start+sz:], b[start+1:start+1+n])
	}
	protowire.AppendVarint(b[:start], uint64(n))
	return b
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendInt(b []byte, num protowire.Number, v int64) []byte { return appendUint(b, num, uint64(v)) }

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 { // proto3 omits +0 but keeps -0
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, bits)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendStrings appends a repeated string field, empty strings included.
func appendStrings(b []byte, num protowire.Number, ss []string) []byte {
	for _, s := range ss {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	return b
}

func appendPackedInts(b []byte, num protowire.Number, vs []int64) []byte {
	if len(vs) == 0 {
		return b
	}
	n := 0
	for _, v := range vs {
		n += protowire.SizeVarint(uint64(v))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, v := range vs {
		b = protowire.AppendVarint(b, uint64(v))
	}
	return b
}

func appendPackedDoubles(b []byte, num protowire.Number, vs []float64) []byte {
	if len(vs) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(8*len(vs)))
	for _, v := range vs {
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	}
	return b
}

func appendTensorType(b []byte, t graph.TensorType) []byte {
	b = appendUint(b, fTypeDType, uint64(t.DType))
	for _, d := range t.Shape {
		b = appendMessage(b, fTypeShape, func(b []byte) []byte {
			b = appendInt(b, fDimSize, d.Size)
			return appendString(b, fDimSym, d.Sym)
		})
	}
	return b
}

func appendValueInfo(b []byte, num protowire.Number, name string, t graph.TensorType) []byte {
	return appendMessage(b, num, func(b []byte) []byte {
		b = appendString(b, fVIName, name)
		return appendMessage(b, fVIType, func(b []byte) []byte { return appendTensorType(b, t) })
	})
}

func appendValueInfos(b []byte, num protowire.Number, vs []graph.ValueInfo) []byte {
	for _, v := range vs {
		b = appendValueInfo(b, num, v.Name, v.Type)
	}
	return b
}

func appendAttrs(b []byte, num protowire.Number, attrs map[string]graph.Attr) []byte {
	for _, name := range sortedKeys(attrs) {
		a := attrs[name]
		b = appendMessage(b, num, func(b []byte) []byte {
			b = appendString(b, fAttrName, name)
			b = appendUint(b, fAttrKind, uint64(a.Kind))
			switch a.Kind {
			case graph.AttrInt:
				b = appendInt(b, fAttrInt, a.Int)
			case graph.AttrFloat:
				b = appendDouble(b, fAttrFloat, a.Float)
			case graph.AttrString:
				b = appendString(b, fAttrStr, a.Str)
			case graph.AttrInts:
				b = appendPackedInts(b, fAttrInts, a.Ints)
			case graph.AttrFloats:
				b = appendPackedDoubles(b, fAttrFloats, a.Floats)
			case graph.AttrStrings:
				b = appendStrings(b, fAttrStrings, a.Strings)
			}
			return b
		})
	}
	return b
}

func appendInitializer(b []byte, in *graph.Initializer) []byte {
	b = appendString(b, fInitName, in.Name)
	b = appendMessage(b, fInitType, func(b []byte) []byte { return appendTensorType(b, in.Type) })
	if in.Data != nil {
		b = protowire.AppendTag(b, fInitData, protowire.BytesType)
		b = protowire.AppendBytes(b, in.Data)
	}
	if r := in.Ref; r != nil {
		b = appendMessage(b, fInitRef, func(b []byte) []byte {
			b = appendString(b, fRefFile, r.File)
			b = appendInt(b, fRefOffset, r.Offset)
			return appendInt(b, fRefLength, r.Length)
		})
	}
	if d := in.Derive; d != nil {
		b = appendMessage(b, fInitDerive, func(b []byte) []byte {
			b = appendString(b, fDerivOp, d.Op)
			b = appendString(b, fDerivSource, d.Source)
			b = appendAttrs(b, fDerivAttrs, d.Attrs)
			return appendInt(b, fDerivOutput, int64(int32(d.Output)))
		})
	}
	return b
}

func appendNode(b []byte, n *graph.Node) []byte {
	b = appendString(b, fNodeName, n.Name)
	b = appendString(b, fNodeOp, n.Op)
	b = appendStrings(b, fNodeInputs, n.Inputs)
	b = appendStrings(b, fNodeOutputs, n.Outputs)
	b = appendAttrs(b, fNodeAttrs, n.Attrs)
	b = appendString(b, fNodeScope, n.Scope)
	for _, k := range sortedKeys(n.Subgraphs) {
		sg := n.Subgraphs[k]
		b = appendMessage(b, fNodeSubgraphs, func(b []byte) []byte {
			b = protowire.AppendTag(b, fMapKey, protowire.BytesType)
			b = protowire.AppendString(b, k)
			return appendMessage(b, fMapValue, func(b []byte) []byte {
				if sg == nil {
					return b
				}
				return appendGraph(b, sg, nil)
			})
		})
	}
	return b
}

func appendGraph(b []byte, g *graph.Graph, types map[string]graph.TensorType) []byte {
	b = appendString(b, fGraphName, g.Name)
	b = appendValueInfos(b, fGraphInputs, g.Inputs)
	b = appendValueInfos(b, fGraphOutputs, g.Outputs)
	for _, in := range g.Initializers {
		if in == nil {
			continue
		}
		b = appendMessage(b, fGraphInitializers, func(b []byte) []byte { return appendInitializer(b, in) })
	}
	for _, n := range g.Nodes {
		if n == nil {
			continue
		}
		b = appendMessage(b, fGraphNodes, func(b []byte) []byte { return appendNode(b, n) })
	}
	for _, k := range sortedKeys(g.Metadata) {
		v := g.Metadata[k]
		b = appendMessage(b, fGraphMetadata, func(b []byte) []byte {
			b = protowire.AppendTag(b, fMapKey, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, fMapValue, protowire.BytesType)
			return protowire.AppendString(b, v)
		})
	}
	for _, k := range sortedKeys(types) {
		b = appendValueInfo(b, fGraphValueInfo, k, types[k])
	}
	return b
}

func appendNodes(b []byte, num protowire.Number, nodes []*graph.Node) []byte {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		b = appendMessage(b, num, func(b []byte) []byte { return appendNode(b, n) })
	}
	return b
}

func appendPatch(b []byte, p *graph.Patch) []byte {
	for i := range p.Rewrites {
		rw := &p.Rewrites[i]
		b = appendMessage(b, fPatchRewrites, func(b []byte) []byte {
			b = appendString(b, fRwReason, rw.Reason)
			b = appendStrings(b, fRwRemoveNodes, rw.RemoveNodes)
			b = appendNodes(b, fRwAddNodes, rw.AddNodes)
			for _, m := range rw.Remaps {
				b = appendMessage(b, fRwRemaps, func(b []byte) []byte {
					b = appendString(b, fRemapFrom, m.From)
					return appendString(b, fRemapTo, m.To)
				})
			}
			for _, in := range rw.AddInitializers {
				if in == nil {
					continue
				}
				b = appendMessage(b, fRwAddInitializers, func(b []byte) []byte { return appendInitializer(b, in) })
			}
			b = appendStrings(b, fRwRemoveInputs, rw.RemoveInputs)
			b = appendStrings(b, fRwRemoveOutputs, rw.RemoveOutputs)
			b = appendValueInfos(b, fRwSetInputTypes, rw.SetInputTypes)
			return appendValueInfos(b, fRwSetOutputTypes, rw.SetOutputTypes)
		})
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
