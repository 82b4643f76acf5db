package abi

import (
	"math"
	"sort"

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

// EncodeRunRequestGraph encodes the part of a RunRequest that does not
// depend on a pass's options: abi_version and the graph, with types as its
// value_info. Followed by AppendRunRequestOptions's field, it is exactly
// EncodeRunRequest's encoding, so a host can encode a graph once and send it
// to every pass that sees that graph.
func EncodeRunRequestGraph(version uint32, g *graph.Graph, types map[string]graph.TensorType) []byte {
	r := RunRequest{ABIVersion: version, Graph: g, ValueTypes: types}
	return EncodeRunRequest(&r)
}

// AppendRunRequestOptions appends the options_json field of a RunRequest to
// b (see EncodeRunRequestGraph).
func AppendRunRequestOptions(b []byte, optionsJSON string) []byte {
	return appendString(b, fReqOptionsJSON, optionsJSON)
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
func appendMessage(b []byte, num number, body func([]byte) []byte) []byte {
	b = appendTag(b, num, bytesType)
	start := len(b)
	b = append(b, 0)
	b = body(b)
	n := len(b) - start - 1
	if sz := sizeVarint(uint64(n)); sz > 1 {
		b = append(b, make([]byte, sz-1)...)
		copy(b[start+sz:], b[start+1:start+1+n])
	}
	appendVarint(b[:start], uint64(n))
	return b
}

func appendUint(b []byte, num number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendTag(b, num, varintType)
	return appendVarint(b, v)
}

func appendInt(b []byte, num number, v int64) []byte { return appendUint(b, num, uint64(v)) }

func appendDouble(b []byte, num number, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 { // proto3 omits +0 but keeps -0
		return b
	}
	b = appendTag(b, num, fixed64Type)
	return appendFixed64(b, bits)
}

func appendString(b []byte, num number, s string) []byte {
	if s == "" {
		return b
	}
	b = appendTag(b, num, bytesType)
	return appendStringBytes(b, s)
}

// appendStrings appends a repeated string field, empty strings included.
func appendStrings(b []byte, num number, ss []string) []byte {
	for _, s := range ss {
		b = appendTag(b, num, bytesType)
		b = appendStringBytes(b, s)
	}
	return b
}

func appendPackedInts(b []byte, num number, vs []int64) []byte {
	if len(vs) == 0 {
		return b
	}
	n := 0
	for _, v := range vs {
		n += sizeVarint(uint64(v))
	}
	b = appendTag(b, num, bytesType)
	b = appendVarint(b, uint64(n))
	for _, v := range vs {
		b = appendVarint(b, uint64(v))
	}
	return b
}

func appendPackedDoubles(b []byte, num number, vs []float64) []byte {
	if len(vs) == 0 {
		return b
	}
	b = appendTag(b, num, bytesType)
	b = appendVarint(b, uint64(8*len(vs)))
	for _, v := range vs {
		b = appendFixed64(b, math.Float64bits(v))
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

func appendValueInfo(b []byte, num number, name string, t graph.TensorType) []byte {
	return appendMessage(b, num, func(b []byte) []byte {
		b = appendString(b, fVIName, name)
		return appendMessage(b, fVIType, func(b []byte) []byte { return appendTensorType(b, t) })
	})
}

func appendValueInfos(b []byte, num number, vs []graph.ValueInfo) []byte {
	for _, v := range vs {
		b = appendValueInfo(b, num, v.Name, v.Type)
	}
	return b
}

func appendAttrs(b []byte, num number, attrs map[string]graph.Attr) []byte {
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
		b = appendTag(b, fInitData, bytesType)
		b = appendBytes(b, in.Data)
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
			b = appendTag(b, fMapKey, bytesType)
			b = appendStringBytes(b, k)
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
			b = appendTag(b, fMapKey, bytesType)
			b = appendStringBytes(b, k)
			b = appendTag(b, fMapValue, bytesType)
			return appendStringBytes(b, v)
		})
	}
	for _, k := range sortedKeys(types) {
		b = appendValueInfo(b, fGraphValueInfo, k, types[k])
	}
	return b
}

func appendNodes(b []byte, num number, nodes []*graph.Node) []byte {
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
