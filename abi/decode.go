package abi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graphpass/graphpass/graph"
)

// maxDepth bounds subgraph nesting, so hostile input cannot recurse deeply.
const maxDepth = 64

// MaxExpansion bounds how much memory a decoded message may take, as a
// multiple of its encoded size (plus a small constant). Real messages
// take a few times their size; millions of empty sub-messages (two bytes
// each, a hundred-odd bytes decoded) could otherwise turn a 16 MiB response
// into gigabytes. The decoders reject such input as malformed.
const MaxExpansion = 32

// decoder carries the state of one Decode call: the memory budget left.
type decoder struct {
	budget int64
}

func newDecoder(b []byte) *decoder {
	return &decoder{budget: MaxExpansion*int64(len(b)) + 64<<10}
}

// Approximate Go sizes charged per decoded element.
const (
	sizeString      = int64(unsafe.Sizeof(""))
	sizeDim         = int64(unsafe.Sizeof(graph.Dim{}))
	sizeValueInfo   = int64(unsafe.Sizeof(graph.ValueInfo{}))
	sizeAttr        = int64(unsafe.Sizeof(graph.Attr{})) + sizeString + 16 // map entry
	sizeInitializer = int64(unsafe.Sizeof(graph.Initializer{})) + 8
	sizeRef         = int64(unsafe.Sizeof(graph.WeightRef{}))
	sizeDerivation  = int64(unsafe.Sizeof(graph.Derivation{}))
	sizeNode        = int64(unsafe.Sizeof(graph.Node{})) + 8
	sizeGraph       = int64(unsafe.Sizeof(graph.Graph{})) + sizeString + 16
	sizeRewrite     = int64(unsafe.Sizeof(graph.Rewrite{}))
	sizeRemap       = int64(unsafe.Sizeof(graph.Remap{}))
	sizeNote        = int64(unsafe.Sizeof(Note{}))
	sizeMetadata    = 2*sizeString + 16
)

// countField counts the occurrences of field num in message b, so that
// slices of large elements are charged and allocated once, without growth
// garbage. Malformed input counts what precedes the damage; the decode
// itself reports it.
func countField(b []byte, num protowire.Number) int {
	count := 0
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			break
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			break
		}
		b = b[l:]
		if n == num {
			count++
		}
	}
	return count
}

// charge takes n bytes from the budget.
func (d *decoder) charge(n int64) error {
	d.budget -= n
	if d.budget < 0 {
		return malformed("decodes to more than %d times its size in memory (e.g. masses of empty elements)", MaxExpansion)
	}
	return nil
}

// DecodeRunRequest decodes an encoded abi.v1.RunRequest. The graph's
// value_info becomes ValueTypes. Errors wrap ErrMalformed.
func DecodeRunRequest(b []byte) (*RunRequest, error) {
	d := newDecoder(b)
	r := &RunRequest{}
	err := eachField(b, func(f field) error {
		switch f.num {
		case fReqABIVersion:
			v, err := f.uint32("abi_version")
			r.ABIVersion = v
			return err
		case fReqGraph:
			if err := f.want(protowire.BytesType, "graph"); err != nil {
				return err
			}
			r.ValueTypes = map[string]graph.TensorType{}
			g, err := d.decodeGraph(f.b, 0, r.ValueTypes)
			r.Graph = g
			return at(err, "graph")
		case fReqOptionsJSON:
			s, err := f.str("options_json")
			r.OptionsJSON = s
			return err
		}
		return nil
	})
	if err != nil {
		return nil, wrapTop("RunRequest", err)
	}
	if len(r.ValueTypes) == 0 {
		r.ValueTypes = nil
	}
	return r, nil
}

// DecodeRunResponse decodes an encoded abi.v1.RunResponse. Errors wrap
// ErrMalformed.
func DecodeRunResponse(b []byte) (*RunResponse, error) {
	d := newDecoder(b)
	r := &RunResponse{}
	if n := countField(b, fRespNotes); n > 0 {
		if err := d.charge(int64(n) * sizeNote); err != nil {
			return nil, wrapTop("RunResponse", err)
		}
		r.Notes = make([]Note, 0, n)
	}
	err := eachField(b, func(f field) error {
		switch f.num {
		case fRespPatch:
			if err := f.want(protowire.BytesType, "patch"); err != nil {
				return err
			}
			p, err := d.decodePatch(f.b)
			r.Patch = p
			return at(err, "patch")
		case fRespError:
			if err := f.want(protowire.BytesType, "error"); err != nil {
				return err
			}
			e := &PassError{}
			err := eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fErrCode:
					e.Code, err = f.str("code")
				case fErrMessage:
					e.Message, err = f.str("message")
				}
				return err
			})
			r.Error = e
			return at(err, "error")
		case fRespNotes:
			if err := f.want(protowire.BytesType, "notes"); err != nil {
				return err
			}
			var n Note
			err := eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fNoteNode:
					n.Node, err = f.str("node")
				case fNoteMessage:
					n.Message, err = f.str("message")
				}
				return err
			})
			r.Notes = append(r.Notes, n)
			return atIndex(err, "notes", len(r.Notes)-1)
		}
		return nil
	})
	if err != nil {
		return nil, wrapTop("RunResponse", err)
	}
	return r, nil
}

// DecodePassInfo decodes an encoded abi.v1.PassInfo. Errors wrap
// ErrMalformed.
func DecodePassInfo(b []byte) (*PassInfo, error) {
	p := &PassInfo{}
	err := eachField(b, func(f field) error {
		var err error
		var s string
		switch f.num {
		case fInfoABIVersion:
			p.ABIVersion, err = f.uint32("abi_version")
		case fInfoName:
			p.Name, err = f.str("name")
		case fInfoVersion:
			p.Version, err = f.str("version")
		case fInfoDescription:
			p.Description, err = f.str("description")
		case fInfoOptionsJSON:
			p.OptionsSchemaJSON, err = f.str("options_schema_json")
		case fInfoConsumes:
			s, err = f.str("consumes")
			p.Consumes = append(p.Consumes, s)
		case fInfoProduces:
			s, err = f.str("produces")
			p.Produces = append(p.Produces, s)
		}
		return err
	})
	if err != nil {
		return nil, wrapTop("PassInfo", err)
	}
	return p, nil
}

// DecodeGraph decodes an encoded abi.v1.Graph (value_info is ignored).
// Errors wrap ErrMalformed.
func DecodeGraph(b []byte) (*graph.Graph, error) {
	d := newDecoder(b)
	g, err := d.decodeGraph(b, 0, nil)
	if err != nil {
		return nil, wrapTop("Graph", err)
	}
	return g, nil
}

// DecodePatch decodes an encoded abi.v1.Patch. Errors wrap ErrMalformed.
func DecodePatch(b []byte) (*graph.Patch, error) {
	d := newDecoder(b)
	p, err := d.decodePatch(b)
	if err != nil {
		return nil, wrapTop("Patch", err)
	}
	return p, nil
}

// malformedError is a decoding error with the path of the field it is in,
// e.g. "patch.rewrites[2].add_nodes[0].attrs[1]".
type malformedError struct {
	msg  string // the message type being decoded, once known
	path string
	err  string
}

func (e *malformedError) Error() string {
	var sb strings.Builder
	sb.WriteString("abi: malformed ")
	if e.msg != "" {
		sb.WriteString(e.msg)
	} else {
		sb.WriteString("message")
	}
	if e.path != "" {
		sb.WriteString(" at ")
		sb.WriteString(e.path)
	}
	sb.WriteString(": ")
	sb.WriteString(e.err)
	return sb.String()
}

func (e *malformedError) Unwrap() error { return ErrMalformed }

func malformed(format string, args ...any) error {
	return &malformedError{err: fmt.Sprintf(format, args...)}
}

// atIndex is at(err, name[i]), formatting only when there is an error.
func atIndex(err error, name string, i int) error {
	if err == nil {
		return nil
	}
	return at(err, name+"["+strconv.Itoa(i)+"]")
}

// at prefixes the path of a decoding error with seg.
func at(err error, seg string) error {
	me, ok := err.(*malformedError)
	if !ok {
		return err
	}
	switch {
	case me.path == "":
		me.path = seg
	case strings.HasPrefix(me.path, "["):
		me.path = seg + me.path
	default:
		me.path = seg + "." + me.path
	}
	return me
}

func wrapTop(msg string, err error) error {
	if me, ok := err.(*malformedError); ok {
		me.msg = msg
	}
	return err
}

// field is one decoded field of a message.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint, fixed32 or fixed64 value
	b   []byte // bytes value (aliases the input)
}

var wireTypeNames = map[protowire.Type]string{
	protowire.VarintType: "varint", protowire.Fixed32Type: "fixed32", protowire.Fixed64Type: "fixed64",
	protowire.BytesType: "bytes", protowire.StartGroupType: "group",
}

func (f field) want(t protowire.Type, name string) error {
	if f.typ != t {
		return malformed("field %s (%d) has wire type %s, want %s", name, f.num, wireTypeNames[f.typ], wireTypeNames[t])
	}
	return nil
}

func (f field) str(name string) (string, error) {
	if err := f.want(protowire.BytesType, name); err != nil {
		return "", err
	}
	return string(f.b), nil
}

func (f field) int64(name string) (int64, error) {
	if err := f.want(protowire.VarintType, name); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

func (f field) uint32(name string) (uint32, error) {
	if err := f.want(protowire.VarintType, name); err != nil {
		return 0, err
	}
	return uint32(f.u), nil // proto3 uint32 semantics: truncate
}

func (f field) int32(name string) (int32, error) {
	if err := f.want(protowire.VarintType, name); err != nil {
		return 0, err
	}
	return int32(f.u), nil
}

func (f field) double(name string) (float64, error) {
	if err := f.want(protowire.Fixed64Type, name); err != nil {
		return 0, err
	}
	return math.Float64frombits(f.u), nil
}

// eachField calls fn for every field of the message b, skipping nothing:
// fn ignores numbers it does not know (fields added later in v1).
func eachField(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformed("bad field tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		case protowire.StartGroupType:
			n = protowire.ConsumeFieldValue(num, typ, b)
		default:
			return malformed("field %d has invalid wire type %d", num, typ)
		}
		if n < 0 {
			return malformed("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// dtype checks an enum value fits graph.DType. Unknown values inside the
// range are kept (graph.Verify rejects them) so that additive enum values
// do not break decoding.
func dtypeOf(f field) (graph.DType, error) {
	v, err := f.int64("dtype")
	if err != nil {
		return 0, err
	}
	if v < 0 || v > math.MaxUint8 {
		return 0, malformed("dtype %d out of range", v)
	}
	return graph.DType(v), nil
}

func (d *decoder) decodeTensorType(b []byte) (graph.TensorType, error) {
	var t graph.TensorType
	err := eachField(b, func(f field) error {
		switch f.num {
		case fTypeDType:
			dt, err := dtypeOf(f)
			t.DType = dt
			return err
		case fTypeShape:
			if err := f.want(protowire.BytesType, "shape"); err != nil {
				return err
			}
			if err := d.charge(sizeDim); err != nil {
				return err
			}
			var dim graph.Dim
			err := eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fDimSize:
					dim.Size, err = f.int64("size")
				case fDimSym:
					dim.Sym, err = f.str("sym")
				}
				return err
			})
			t.Shape = append(t.Shape, dim)
			return atIndex(err, "shape", len(t.Shape)-1)
		}
		return nil
	})
	return t, err
}

func (d *decoder) decodeValueInfo(b []byte) (graph.ValueInfo, error) {
	var v graph.ValueInfo
	err := eachField(b, func(f field) error {
		switch f.num {
		case fVIName:
			s, err := f.str("name")
			v.Name = s
			return err
		case fVIType:
			if err := f.want(protowire.BytesType, "type"); err != nil {
				return err
			}
			t, err := d.decodeTensorType(f.b)
			v.Type = t
			return at(err, "type")
		}
		return nil
	})
	return v, err
}

func (d *decoder) appendValueInfoField(vs []graph.ValueInfo, f field, name string) ([]graph.ValueInfo, error) {
	if err := f.want(protowire.BytesType, name); err != nil {
		return vs, err
	}
	if err := d.charge(sizeValueInfo); err != nil {
		return vs, err
	}
	v, err := d.decodeValueInfo(f.b)
	vs = append(vs, v)
	return vs, atIndex(err, name, len(vs)-1)
}

// decodeAttr decodes one Attribute message; repeated numbers may come packed
// or unpacked, as protobuf requires of every reader.
func (d *decoder) decodeAttr(b []byte) (string, graph.Attr, error) {
	var name string
	var a graph.Attr
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case fAttrName:
			name, err = f.str("name")
		case fAttrKind:
			var v int64
			v, err = f.int64("kind")
			if err == nil && (v < 0 || v > math.MaxUint8) {
				err = malformed("attribute kind %d out of range", v)
			}
			a.Kind = graph.AttrKind(v)
		case fAttrInt:
			a.Int, err = f.int64("i")
		case fAttrFloat:
			a.Float, err = f.double("f")
		case fAttrStr:
			a.Str, err = f.str("s")
		case fAttrInts:
			switch f.typ {
			case protowire.VarintType:
				err = d.charge(8)
				a.Ints = append(a.Ints, int64(f.u))
			case protowire.BytesType:
				if err := d.charge(8 * int64(len(f.b))); err != nil {
					return err
				}
				for p := f.b; len(p) > 0; {
					v, n := protowire.ConsumeVarint(p)
					if n < 0 {
						return malformed("field ints: %v", protowire.ParseError(n))
					}
					a.Ints = append(a.Ints, int64(v))
					p = p[n:]
				}
			default:
				err = f.want(protowire.BytesType, "ints")
			}
		case fAttrFloats:
			switch f.typ {
			case protowire.Fixed64Type:
				err = d.charge(8)
				a.Floats = append(a.Floats, math.Float64frombits(f.u))
			case protowire.BytesType:
				if len(f.b)%8 != 0 {
					return malformed("field floats: packed length %d is not a multiple of 8", len(f.b))
				}
				for p := f.b; len(p) > 0; p = p[8:] {
					v, _ := protowire.ConsumeFixed64(p)
					a.Floats = append(a.Floats, math.Float64frombits(v))
				}
			default:
				err = f.want(protowire.BytesType, "floats")
			}
		case fAttrStrings:
			var s string
			s, err = f.str("strings")
			a.Strings = append(a.Strings, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		}
		return err
	})
	return name, a, err
}

func (d *decoder) decodeAttrField(attrs map[string]graph.Attr, f field, name string, i int) (map[string]graph.Attr, error) {
	if err := f.want(protowire.BytesType, name); err != nil {
		return attrs, err
	}
	if err := d.charge(sizeAttr); err != nil {
		return attrs, err
	}
	k, a, err := d.decodeAttr(f.b)
	if err != nil {
		return attrs, atIndex(err, name, i)
	}
	if attrs == nil {
		attrs = map[string]graph.Attr{}
	}
	attrs[k] = a
	return attrs, nil
}

func (d *decoder) decodeInitializer(b []byte) (*graph.Initializer, error) {
	if err := d.charge(sizeInitializer); err != nil {
		return nil, err
	}
	in := &graph.Initializer{}
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case fInitName:
			in.Name, err = f.str("name")
		case fInitType:
			if err = f.want(protowire.BytesType, "type"); err != nil {
				return err
			}
			in.Type, err = d.decodeTensorType(f.b)
			err = at(err, "type")
		case fInitData:
			if err = f.want(protowire.BytesType, "data"); err != nil {
				return err
			}
			in.Data = append(make([]byte, 0, len(f.b)), f.b...)
		case fInitRef:
			if err = f.want(protowire.BytesType, "ref"); err != nil {
				return err
			}
			if err = d.charge(sizeRef); err != nil {
				return err
			}
			r := &graph.WeightRef{}
			err = eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fRefFile:
					r.File, err = f.str("file")
				case fRefOffset:
					r.Offset, err = f.int64("offset")
				case fRefLength:
					r.Length, err = f.int64("length")
				}
				return err
			})
			in.Ref = r
			err = at(err, "ref")
		case fInitDerive:
			if err = f.want(protowire.BytesType, "derive"); err != nil {
				return err
			}
			if err = d.charge(sizeDerivation); err != nil {
				return err
			}
			der := &graph.Derivation{}
			nattrs := 0
			err = eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fDerivOp:
					der.Op, err = f.str("op")
				case fDerivSource:
					der.Source, err = f.str("source")
				case fDerivAttrs:
					der.Attrs, err = d.decodeAttrField(der.Attrs, f, "attrs", nattrs)
					nattrs++
				case fDerivOutput:
					var v int32
					v, err = f.int32("output")
					der.Output = int(v)
				}
				return err
			})
			in.Derive = der
			err = at(err, "derive")
		}
		return err
	})
	return in, err
}

func (d *decoder) decodeNode(b []byte, depth int) (*graph.Node, error) {
	if err := d.charge(sizeNode); err != nil {
		return nil, err
	}
	n := &graph.Node{}
	nattrs := 0
	err := eachField(b, func(f field) error {
		var err error
		var s string
		switch f.num {
		case fNodeName:
			n.Name, err = f.str("name")
		case fNodeOp:
			n.Op, err = f.str("op")
		case fNodeInputs:
			s, err = f.str("inputs")
			n.Inputs = append(n.Inputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fNodeOutputs:
			s, err = f.str("outputs")
			n.Outputs = append(n.Outputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fNodeAttrs:
			n.Attrs, err = d.decodeAttrField(n.Attrs, f, "attrs", nattrs)
			nattrs++
		case fNodeScope:
			n.Scope, err = f.str("scope")
		case fNodeSubgraphs:
			if err = f.want(protowire.BytesType, "subgraphs"); err != nil {
				return err
			}
			if depth+1 > maxDepth {
				return malformed("subgraphs nested deeper than %d", maxDepth)
			}
			var key string
			var sg *graph.Graph
			err = eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fMapKey:
					key, err = f.str("key")
				case fMapValue:
					if err = f.want(protowire.BytesType, "value"); err != nil {
						return err
					}
					sg, err = d.decodeGraph(f.b, depth+1, nil)
				}
				return err
			})
			if err != nil {
				return at(err, fmt.Sprintf("subgraphs[%q]", key))
			}
			if sg == nil {
				sg = &graph.Graph{}
			}
			if n.Subgraphs == nil {
				n.Subgraphs = map[string]*graph.Graph{}
			}
			n.Subgraphs[key] = sg
		}
		return err
	})
	return n, err
}

// decodeGraph decodes a Graph message; value_info goes into types when it
// is non-nil.
func (d *decoder) decodeGraph(b []byte, depth int, types map[string]graph.TensorType) (*graph.Graph, error) {
	if err := d.charge(sizeGraph); err != nil {
		return nil, err
	}
	g := &graph.Graph{}
	nvi := 0
	err := eachField(b, func(f field) error {
		var err error
		switch f.num {
		case fGraphName:
			g.Name, err = f.str("name")
		case fGraphInputs:
			g.Inputs, err = d.appendValueInfoField(g.Inputs, f, "inputs")
		case fGraphOutputs:
			g.Outputs, err = d.appendValueInfoField(g.Outputs, f, "outputs")
		case fGraphInitializers:
			if err = f.want(protowire.BytesType, "initializers"); err != nil {
				return err
			}
			var in *graph.Initializer
			in, err = d.decodeInitializer(f.b)
			g.Initializers = append(g.Initializers, in)
			err = atIndex(err, "initializers", len(g.Initializers)-1)
		case fGraphNodes:
			if err = f.want(protowire.BytesType, "nodes"); err != nil {
				return err
			}
			var n *graph.Node
			n, err = d.decodeNode(f.b, depth)
			g.Nodes = append(g.Nodes, n)
			err = atIndex(err, "nodes", len(g.Nodes)-1)
		case fGraphMetadata:
			if err = f.want(protowire.BytesType, "metadata"); err != nil {
				return err
			}
			if err = d.charge(sizeMetadata); err != nil {
				return err
			}
			var k, v string
			err = eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fMapKey:
					k, err = f.str("key")
				case fMapValue:
					v, err = f.str("value")
				}
				return err
			})
			if err != nil {
				return at(err, "metadata")
			}
			if g.Metadata == nil {
				g.Metadata = map[string]string{}
			}
			g.Metadata[k] = v
		case fGraphValueInfo:
			if err = f.want(protowire.BytesType, "value_info"); err != nil {
				return err
			}
			if err = d.charge(sizeValueInfo + 16); err != nil {
				return err
			}
			var v graph.ValueInfo
			v, err = d.decodeValueInfo(f.b)
			if err != nil {
				return atIndex(err, "value_info", nvi)
			}
			nvi++
			if types != nil {
				types[v.Name] = v.Type
			}
		}
		return err
	})
	return g, err
}

func (d *decoder) decodePatch(b []byte) (*graph.Patch, error) {
	p := &graph.Patch{}
	if n := countField(b, fPatchRewrites); n > 0 {
		if err := d.charge(int64(n) * sizeRewrite); err != nil {
			return p, err
		}
		p.Rewrites = make([]graph.Rewrite, 0, n)
	}
	err := eachField(b, func(f field) error {
		if f.num != fPatchRewrites {
			return nil
		}
		if err := f.want(protowire.BytesType, "rewrites"); err != nil {
			return err
		}
		rw, err := d.decodeRewrite(f.b)
		p.Rewrites = append(p.Rewrites, rw)
		return atIndex(err, "rewrites", len(p.Rewrites)-1)
	})
	return p, err
}

func (d *decoder) decodeRewrite(b []byte) (graph.Rewrite, error) {
	var rw graph.Rewrite
	if n := countField(b, fRwRemaps); n > 0 {
		if err := d.charge(int64(n) * sizeRemap); err != nil {
			return rw, err
		}
		rw.Remaps = make([]graph.Remap, 0, n)
	}
	err := eachField(b, func(f field) error {
		var err error
		var s string
		switch f.num {
		case fRwReason:
			rw.Reason, err = f.str("reason")
		case fRwRemoveNodes:
			s, err = f.str("remove_nodes")
			rw.RemoveNodes = append(rw.RemoveNodes, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwAddNodes:
			if err = f.want(protowire.BytesType, "add_nodes"); err != nil {
				return err
			}
			var n *graph.Node
			n, err = d.decodeNode(f.b, 0)
			rw.AddNodes = append(rw.AddNodes, n)
			err = atIndex(err, "add_nodes", len(rw.AddNodes)-1)
		case fRwRemaps:
			if err = f.want(protowire.BytesType, "remaps"); err != nil {
				return err
			}
			var m graph.Remap
			err = eachField(f.b, func(f field) error {
				var err error
				switch f.num {
				case fRemapFrom:
					m.From, err = f.str("from")
				case fRemapTo:
					m.To, err = f.str("to")
				}
				return err
			})
			rw.Remaps = append(rw.Remaps, m)
			err = atIndex(err, "remaps", len(rw.Remaps)-1)
		case fRwAddInitializers:
			if err = f.want(protowire.BytesType, "add_initializers"); err != nil {
				return err
			}
			var in *graph.Initializer
			in, err = d.decodeInitializer(f.b)
			rw.AddInitializers = append(rw.AddInitializers, in)
			err = atIndex(err, "add_initializers", len(rw.AddInitializers)-1)
		case fRwRemoveInputs:
			s, err = f.str("remove_inputs")
			rw.RemoveInputs = append(rw.RemoveInputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwRemoveOutputs:
			s, err = f.str("remove_outputs")
			rw.RemoveOutputs = append(rw.RemoveOutputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwSetInputTypes:
			rw.SetInputTypes, err = d.appendValueInfoField(rw.SetInputTypes, f, "set_input_types")
		case fRwSetOutputTypes:
			rw.SetOutputTypes, err = d.appendValueInfoField(rw.SetOutputTypes, f, "set_output_types")
		}
		return err
	})
	return rw, err
}
