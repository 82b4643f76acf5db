package abi

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/graphpass/graphpass/graph"
)

// maxDepth bounds subgraph nesting, so hostile input cannot recurse deeply.
const maxDepth = 64

// maxGroupDepth bounds the nesting of unknown groups being skipped, as
// protobuf-go does.
const maxGroupDepth = 10000

// MaxExpansion bounds how much memory a decoded message may take, as a
// multiple of its encoded size (plus a small constant). Real messages
// take a few times their size; millions of empty sub-messages (two bytes
// each, a hundred-odd bytes decoded) could otherwise turn a 16 MiB response
// into gigabytes. The decoders reject such input as malformed.
const MaxExpansion = 32

// The decoders are written for speed inside a WebAssembly pass, where a
// pass spends most of its time decoding its request: no closures, no
// allocation per string when decoding a request (its names repeat three or
// four times, so every string is a substring of one copy of the input),
// and slices of strings, dims and ints carved from shared blocks.

// decoder carries the state of one Decode call: the memory budget left,
// the shared copy of the input, and the blocks slices are carved from.
type decoder struct {
	budget int64
	shared bool   // strings are substrings of s
	s      string // the input, copied once (when shared)
	base   int    // cap of the input: a sub-slice starts at base - cap(sub)

	strs slab[string]
	dims slab[graph.Dim]
	ints slab[int64]
	// Scratch stacks: a node's inputs and outputs, a type's dims, collected
	// before they are carved (nested nodes push above and pop back).
	ins, outs []string
	dimBuf    []graph.Dim
}

func newDecoder(b []byte) *decoder {
	return &decoder{budget: MaxExpansion*int64(len(b)) + 64<<10}
}

// share makes every string decoded from b a substring of one copy of b.
func (d *decoder) share(b []byte) {
	d.shared, d.s, d.base = true, string(b), cap(b)
}

// slab hands out slices carved from larger blocks, one allocation for many
// small slices. Each slice has its length as capacity, so appending to it
// never writes into its neighbour.
type slab[T any] struct {
	buf  []T
	next int // size of the next block
}

func (s *slab[T]) take(items []T) []T {
	n := len(items)
	if n == 0 {
		return nil
	}
	if len(s.buf) < n {
		s.next = min(max(2*s.next, 64), 4096)
		s.buf = make([]T, max(n, s.next))
	}
	out := s.buf[:n:n]
	copy(out, items)
	s.buf = s.buf[n:]
	return out
}

// str returns the string of a bytes field.
func (d *decoder) str(b []byte) string {
	if d.shared {
		if off := d.base - cap(b); off >= 0 && off+len(b) <= len(d.s) {
			return d.s[off : off+len(b)]
		}
	}
	return string(b)
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
func countField(b []byte, num number) int {
	c, _ := countFields(b, num, 0)
	return c
}

// countFields counts the occurrences of two fields in one scan.
func countFields(b []byte, num1, num2 number) (int, int) {
	c1, c2 := 0, 0
	for len(b) > 0 {
		n, typ, l, err := consumeTag(b)
		if err != nil {
			break
		}
		b = b[l:]
		l, err = consumeValue(n, typ, b, 0)
		if err != nil {
			break
		}
		b = b[l:]
		switch n {
		case num1:
			c1++
		case num2:
			c2++
		}
	}
	return c1, c2
}

// charge takes n bytes from the budget.
func (d *decoder) charge(n int64) error {
	d.budget -= n
	if d.budget < 0 {
		return malformed("decodes to more than " + strconv.Itoa(MaxExpansion) + " times its size in memory (e.g. masses of empty elements)")
	}
	return nil
}

// DecodeRunRequest decodes an encoded abi.v1.RunRequest. The graph's
// value_info becomes ValueTypes. Errors wrap ErrMalformed.
func DecodeRunRequest(b []byte) (*RunRequest, error) {
	d := newDecoder(b)
	d.share(b)
	r := &RunRequest{}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return nil, wrapTop("RunRequest", err)
		}
		b = b[n:]
		switch f.num {
		case fReqABIVersion:
			r.ABIVersion, err = f.uint32("abi_version")
		case fReqGraph:
			if err = f.want(bytesType, "graph"); err == nil {
				r.Graph, r.ValueTypes, err = d.decodeGraph(f.b, 0, true)
				err = at(err, "graph")
			}
		case fReqOptionsJSON:
			r.OptionsJSON, err = d.fieldStr(f, "options_json")
		}
		if err != nil {
			return nil, wrapTop("RunRequest", err)
		}
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
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return nil, wrapTop("RunResponse", err)
		}
		b = b[n:]
		switch f.num {
		case fRespPatch:
			if err = f.want(bytesType, "patch"); err == nil {
				r.Patch, err = d.decodePatch(f.b)
				err = at(err, "patch")
			}
		case fRespError:
			if err = f.want(bytesType, "error"); err == nil {
				r.Error, err = d.decodePassError(f.b)
				err = at(err, "error")
			}
		case fRespNotes:
			if err = f.want(bytesType, "notes"); err == nil {
				var note Note
				note, err = d.decodeNote(f.b)
				r.Notes = append(r.Notes, note)
				err = atIndex(err, "notes", len(r.Notes)-1)
			}
		}
		if err != nil {
			return nil, wrapTop("RunResponse", err)
		}
	}
	return r, nil
}

func (d *decoder) decodePassError(b []byte) (*PassError, error) {
	e := &PassError{}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return e, err
		}
		b = b[n:]
		switch f.num {
		case fErrCode:
			e.Code, err = d.fieldStr(f, "code")
		case fErrMessage:
			e.Message, err = d.fieldStr(f, "message")
		}
		if err != nil {
			return e, err
		}
	}
	return e, nil
}

func (d *decoder) decodeNote(b []byte) (Note, error) {
	var note Note
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return note, err
		}
		b = b[n:]
		switch f.num {
		case fNoteNode:
			note.Node, err = d.fieldStr(f, "node")
		case fNoteMessage:
			note.Message, err = d.fieldStr(f, "message")
		}
		if err != nil {
			return note, err
		}
	}
	return note, nil
}

// DecodePassInfo decodes an encoded abi.v1.PassInfo. Errors wrap
// ErrMalformed.
func DecodePassInfo(b []byte) (*PassInfo, error) {
	d := newDecoder(b)
	p := &PassInfo{}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return nil, wrapTop("PassInfo", err)
		}
		b = b[n:]
		var s string
		switch f.num {
		case fInfoABIVersion:
			p.ABIVersion, err = f.uint32("abi_version")
		case fInfoName:
			p.Name, err = d.fieldStr(f, "name")
		case fInfoVersion:
			p.Version, err = d.fieldStr(f, "version")
		case fInfoDescription:
			p.Description, err = d.fieldStr(f, "description")
		case fInfoOptionsJSON:
			p.OptionsSchemaJSON, err = d.fieldStr(f, "options_schema_json")
		case fInfoConsumes:
			s, err = d.fieldStr(f, "consumes")
			p.Consumes = append(p.Consumes, s)
		case fInfoProduces:
			s, err = d.fieldStr(f, "produces")
			p.Produces = append(p.Produces, s)
		}
		if err != nil {
			return nil, wrapTop("PassInfo", err)
		}
	}
	return p, nil
}

// DecodeGraph decodes an encoded abi.v1.Graph (value_info is ignored).
// Errors wrap ErrMalformed.
func DecodeGraph(b []byte) (*graph.Graph, error) {
	d := newDecoder(b)
	d.share(b)
	g, _, err := d.decodeGraph(b, 0, false)
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

func malformed(msg string) error { return &malformedError{err: msg} }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

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
	num number
	typ wireType
	u   uint64 // varint, fixed32 or fixed64 value
	b   []byte // bytes value (aliases the input)
}

// nextField decodes the field at the start of b and returns it and its
// encoded length. Unknown groups are skipped whole. The common case, a
// one-byte tag with a one-byte varint or length, is inlined into callers:
// calls are expensive in Go's WebAssembly code.
func nextField(b []byte) (field, int, error) {
	if len(b) >= 2 && b[0] >= 8 && b[0] < 0x80 && b[1] < 0x80 {
		switch wireType(b[0] & 7) {
		case bytesType:
			if l := int(b[1]); l <= len(b)-2 {
				return field{num: number(b[0] >> 3), typ: bytesType, b: b[2 : 2+l]}, 2 + l, nil
			}
		case varintType:
			return field{num: number(b[0] >> 3), typ: varintType, u: uint64(b[1])}, 2, nil
		}
	}
	return nextFieldSlow(b)
}

func nextFieldSlow(b []byte) (field, int, error) {
	num, typ, tn, err := consumeTag(b)
	if err != nil {
		return field{}, 0, malformed("bad field tag: " + err.Error())
	}
	f := field{num: num, typ: typ}
	rest := b[tn:]
	n := 0
	switch typ {
	case varintType:
		f.u, n, err = consumeVarint(rest)
	case fixed32Type:
		if len(rest) < 4 {
			err = errTruncated
		} else {
			f.u, n = uint64(binary.LittleEndian.Uint32(rest)), 4
		}
	case fixed64Type:
		if len(rest) < 8 {
			err = errTruncated
		} else {
			f.u, n = binary.LittleEndian.Uint64(rest), 8
		}
	case bytesType:
		f.b, n, err = consumeBytes(rest)
	case startGroupType:
		n, err = consumeGroup(num, rest, 0)
	default:
		return f, 0, malformed("field " + itoa(int64(num)) + " has invalid wire type " + itoa(int64(typ)))
	}
	if err != nil {
		return f, 0, malformed("field " + itoa(int64(num)) + ": " + err.Error())
	}
	return f, tn + n, nil
}

func wireTypeName(t wireType) string {
	switch t {
	case varintType:
		return "varint"
	case fixed32Type:
		return "fixed32"
	case fixed64Type:
		return "fixed64"
	case bytesType:
		return "bytes"
	case startGroupType:
		return "group"
	}
	return ""
}

func (f field) want(t wireType, name string) error {
	if f.typ == t {
		return nil
	}
	return f.wrongType(t, name)
}

func (f field) wrongType(t wireType, name string) error {
	return malformed("field " + name + " (" + itoa(int64(f.num)) + ") has wire type " + wireTypeName(f.typ) + ", want " + wireTypeName(t))
}

func (d *decoder) fieldStr(f field, name string) (string, error) {
	if f.typ != bytesType {
		return "", f.wrongType(bytesType, name)
	}
	return d.str(f.b), nil
}

func (f field) int64(name string) (int64, error) {
	if err := f.want(varintType, name); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

func (f field) uint32(name string) (uint32, error) {
	if err := f.want(varintType, name); err != nil {
		return 0, err
	}
	return uint32(f.u), nil // proto3 uint32 semantics: truncate
}

func (f field) int32(name string) (int32, error) {
	if err := f.want(varintType, name); err != nil {
		return 0, err
	}
	return int32(f.u), nil
}

func (f field) double(name string) (float64, error) {
	if err := f.want(fixed64Type, name); err != nil {
		return 0, err
	}
	return math.Float64frombits(f.u), nil
}

// dtypeOf checks an enum value fits graph.DType. Unknown values inside the
// range are kept (graph.Verify rejects them) so that additive enum values
// do not break decoding.
func dtypeOf(f field) (graph.DType, error) {
	v, err := f.int64("dtype")
	if err != nil {
		return 0, err
	}
	if v < 0 || v > math.MaxUint8 {
		return 0, malformed("dtype " + itoa(v) + " out of range")
	}
	return graph.DType(v), nil
}

func (d *decoder) decodeTensorType(b []byte) (graph.TensorType, error) {
	var t graph.TensorType
	d.dimBuf = d.dimBuf[:0] // types do not nest
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return t, err
		}
		b = b[n:]
		switch f.num {
		case fTypeDType:
			t.DType, err = dtypeOf(f)
		case fTypeShape:
			if err = f.want(bytesType, "shape"); err != nil {
				break
			}
			if err = d.charge(sizeDim); err != nil {
				break
			}
			var dim graph.Dim
			dim, err = d.decodeDim(f.b)
			d.dimBuf = append(d.dimBuf, dim)
			err = atIndex(err, "shape", len(d.dimBuf)-1)
		}
		if err != nil {
			return t, err
		}
	}
	t.Shape = d.dims.take(d.dimBuf)
	return t, nil
}

func (d *decoder) decodeDim(b []byte) (graph.Dim, error) {
	var dim graph.Dim
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return dim, err
		}
		b = b[n:]
		switch f.num {
		case fDimSize:
			dim.Size, err = f.int64("size")
		case fDimSym:
			dim.Sym, err = d.fieldStr(f, "sym")
		}
		if err != nil {
			return dim, err
		}
	}
	return dim, nil
}

func (d *decoder) decodeValueInfo(b []byte) (graph.ValueInfo, error) {
	var v graph.ValueInfo
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return v, err
		}
		b = b[n:]
		switch f.num {
		case fVIName:
			v.Name, err = d.fieldStr(f, "name")
		case fVIType:
			if err = f.want(bytesType, "type"); err == nil {
				v.Type, err = d.decodeTensorType(f.b)
				err = at(err, "type")
			}
		}
		if err != nil {
			return v, err
		}
	}
	return v, nil
}

func (d *decoder) appendValueInfoField(vs []graph.ValueInfo, f field, name string) ([]graph.ValueInfo, error) {
	if err := f.want(bytesType, name); err != nil {
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
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return name, a, err
		}
		b = b[n:]
		switch f.num {
		case fAttrName:
			name, err = d.fieldStr(f, "name")
		case fAttrKind:
			var v int64
			v, err = f.int64("kind")
			if err == nil && (v < 0 || v > math.MaxUint8) {
				err = malformed("attribute kind " + itoa(v) + " out of range")
			}
			a.Kind = graph.AttrKind(v)
		case fAttrInt:
			a.Int, err = f.int64("i")
		case fAttrFloat:
			a.Float, err = f.double("f")
		case fAttrStr:
			a.Str, err = d.fieldStr(f, "s")
		case fAttrInts:
			switch f.typ {
			case varintType:
				err = d.charge(8)
				a.Ints = append(a.Ints, int64(f.u))
			case bytesType:
				a.Ints, err = d.packedInts(a.Ints, f.b)
			default:
				err = f.want(bytesType, "ints")
			}
		case fAttrFloats:
			switch f.typ {
			case fixed64Type:
				err = d.charge(8)
				a.Floats = append(a.Floats, math.Float64frombits(f.u))
			case bytesType:
				if len(f.b)%8 != 0 {
					return name, a, malformed("field floats: packed length " + strconv.Itoa(len(f.b)) + " is not a multiple of 8")
				}
				for p := f.b; len(p) > 0; p = p[8:] {
					a.Floats = append(a.Floats, math.Float64frombits(binary.LittleEndian.Uint64(p)))
				}
			default:
				err = f.want(bytesType, "floats")
			}
		case fAttrStrings:
			var s string
			s, err = d.fieldStr(f, "strings")
			a.Strings = append(a.Strings, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		}
		if err != nil {
			return name, a, err
		}
	}
	return name, a, nil
}

// packedInts appends the packed varints of p to ints; the common case (one
// packed field, ints empty) is carved from the decoder's block of ints.
func (d *decoder) packedInts(ints []int64, p []byte) ([]int64, error) {
	if err := d.charge(8 * int64(len(p))); err != nil {
		return ints, err
	}
	count := 0
	for _, c := range p {
		if c < 0x80 {
			count++
		}
	}
	if len(ints) == 0 && count > 0 && count <= 64 {
		var buf [64]int64
		vals := buf[:0]
		for len(p) > 0 {
			v, n, err := consumeVarint(p)
			if err != nil {
				return ints, malformed("field ints: " + err.Error())
			}
			vals = append(vals, int64(v))
			p = p[n:]
		}
		return d.ints.take(vals), nil
	}
	for len(p) > 0 {
		v, n, err := consumeVarint(p)
		if err != nil {
			return ints, malformed("field ints: " + err.Error())
		}
		ints = append(ints, int64(v))
		p = p[n:]
	}
	return ints, nil
}

func (d *decoder) decodeAttrField(attrs map[string]graph.Attr, f field, name string, i int) (map[string]graph.Attr, error) {
	if err := f.want(bytesType, name); err != nil {
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
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return in, err
		}
		b = b[n:]
		switch f.num {
		case fInitName:
			in.Name, err = d.fieldStr(f, "name")
		case fInitType:
			if err = f.want(bytesType, "type"); err == nil {
				in.Type, err = d.decodeTensorType(f.b)
				err = at(err, "type")
			}
		case fInitData:
			if err = f.want(bytesType, "data"); err == nil {
				in.Data = append(make([]byte, 0, len(f.b)), f.b...)
			}
		case fInitRef:
			if err = f.want(bytesType, "ref"); err == nil {
				if err = d.charge(sizeRef); err == nil {
					in.Ref, err = d.decodeRef(f.b)
					err = at(err, "ref")
				}
			}
		case fInitDerive:
			if err = f.want(bytesType, "derive"); err == nil {
				if err = d.charge(sizeDerivation); err == nil {
					in.Derive, err = d.decodeDerivation(f.b)
					err = at(err, "derive")
				}
			}
		}
		if err != nil {
			return in, err
		}
	}
	return in, nil
}

func (d *decoder) decodeRef(b []byte) (*graph.WeightRef, error) {
	r := &graph.WeightRef{}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return r, err
		}
		b = b[n:]
		switch f.num {
		case fRefFile:
			r.File, err = d.fieldStr(f, "file")
		case fRefOffset:
			r.Offset, err = f.int64("offset")
		case fRefLength:
			r.Length, err = f.int64("length")
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (d *decoder) decodeDerivation(b []byte) (*graph.Derivation, error) {
	der := &graph.Derivation{}
	nattrs := 0
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return der, err
		}
		b = b[n:]
		switch f.num {
		case fDerivOp:
			der.Op, err = d.fieldStr(f, "op")
		case fDerivSource:
			der.Source, err = d.fieldStr(f, "source")
		case fDerivAttrs:
			der.Attrs, err = d.decodeAttrField(der.Attrs, f, "attrs", nattrs)
			nattrs++
		case fDerivOutput:
			var v int32
			v, err = f.int32("output")
			der.Output = int(v)
		}
		if err != nil {
			return der, err
		}
	}
	return der, nil
}

// decodeNode decodes a Node message into n.
func (d *decoder) decodeNode(n *graph.Node, b []byte, depth int) error {
	// Nested nodes (in subgraphs) push above these starts and pop back.
	insStart, outsStart := len(d.ins), len(d.outs)
	nattrs := 0
	for len(b) > 0 {
		f, m, err := nextField(b)
		if err != nil {
			return err
		}
		b = b[m:]
		var s string
		switch f.num {
		case fNodeName:
			n.Name, err = d.fieldStr(f, "name")
		case fNodeOp:
			n.Op, err = d.fieldStr(f, "op")
		case fNodeInputs:
			s, err = d.fieldStr(f, "inputs")
			d.ins = append(d.ins, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fNodeOutputs:
			s, err = d.fieldStr(f, "outputs")
			d.outs = append(d.outs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fNodeAttrs:
			n.Attrs, err = d.decodeAttrField(n.Attrs, f, "attrs", nattrs)
			nattrs++
		case fNodeScope:
			n.Scope, err = d.fieldStr(f, "scope")
		case fNodeSubgraphs:
			if err = f.want(bytesType, "subgraphs"); err != nil {
				break
			}
			if depth+1 > maxDepth {
				return malformed("subgraphs nested deeper than " + strconv.Itoa(maxDepth))
			}
			var key string
			var sg *graph.Graph
			key, sg, err = d.decodeSubgraphEntry(f.b, depth)
			if err != nil {
				return at(err, "subgraphs["+strconv.Quote(key)+"]")
			}
			if sg == nil {
				sg = &graph.Graph{}
			}
			if n.Subgraphs == nil {
				n.Subgraphs = map[string]*graph.Graph{}
			}
			n.Subgraphs[key] = sg
		}
		if err != nil {
			return err
		}
	}
	n.Inputs = d.strs.take(d.ins[insStart:])
	n.Outputs = d.strs.take(d.outs[outsStart:])
	d.ins, d.outs = d.ins[:insStart], d.outs[:outsStart]
	return nil
}

// decodeSubgraphEntry decodes one entry of a node's subgraphs map.
func (d *decoder) decodeSubgraphEntry(b []byte, depth int) (string, *graph.Graph, error) {
	var key string
	var sg *graph.Graph
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return key, sg, err
		}
		b = b[n:]
		switch f.num {
		case fMapKey:
			key, err = d.fieldStr(f, "key")
		case fMapValue:
			if err = f.want(bytesType, "value"); err == nil {
				sg, _, err = d.decodeGraph(f.b, depth+1, false)
			}
		}
		if err != nil {
			return key, sg, err
		}
	}
	return key, sg, nil
}

// decodeGraph decodes a Graph message, and its value_info into a map when
// withTypes is set.
func (d *decoder) decodeGraph(b []byte, depth int, withTypes bool) (*graph.Graph, map[string]graph.TensorType, error) {
	if err := d.charge(sizeGraph); err != nil {
		return nil, nil, err
	}
	g := &graph.Graph{}
	var types map[string]graph.TensorType
	numNodes, numTypes := countFields(b, fGraphNodes, fGraphValueInfo)
	var nodes []graph.Node // one block for the graph's nodes
	if numNodes > 0 {
		if err := d.charge(int64(numNodes) * sizeNode); err != nil {
			return g, nil, at(err, "nodes")
		}
		nodes = make([]graph.Node, numNodes)
		g.Nodes = make([]*graph.Node, 0, numNodes)
	}
	if withTypes && numTypes > 0 {
		if err := d.charge(int64(numTypes) * (sizeValueInfo + 16)); err != nil {
			return g, nil, at(err, "value_info")
		}
		types = make(map[string]graph.TensorType, numTypes)
	}
	nvi := 0
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return g, types, err
		}
		b = b[n:]
		switch f.num {
		case fGraphName:
			g.Name, err = d.fieldStr(f, "name")
		case fGraphInputs:
			g.Inputs, err = d.appendValueInfoField(g.Inputs, f, "inputs")
		case fGraphOutputs:
			g.Outputs, err = d.appendValueInfoField(g.Outputs, f, "outputs")
		case fGraphInitializers:
			if err = f.want(bytesType, "initializers"); err == nil {
				var in *graph.Initializer
				in, err = d.decodeInitializer(f.b)
				g.Initializers = append(g.Initializers, in)
				err = atIndex(err, "initializers", len(g.Initializers)-1)
			}
		case fGraphNodes:
			if err = f.want(bytesType, "nodes"); err == nil {
				var node *graph.Node
				if i := len(g.Nodes); i < len(nodes) {
					node = &nodes[i] // counted above
				} else if err = d.charge(sizeNode); err != nil {
					break
				} else {
					node = &graph.Node{}
				}
				g.Nodes = append(g.Nodes, node)
				err = atIndex(d.decodeNode(node, f.b, depth), "nodes", len(g.Nodes)-1)
			}
		case fGraphMetadata:
			if err = f.want(bytesType, "metadata"); err == nil {
				if err = d.charge(sizeMetadata); err == nil {
					err = d.decodeMetadataEntry(g, f.b)
				}
			}
		case fGraphValueInfo:
			if err = f.want(bytesType, "value_info"); err != nil {
				break
			}
			if !withTypes {
				if err = d.charge(sizeValueInfo + 16); err != nil {
					break
				}
			}
			var v graph.ValueInfo
			v, err = d.decodeValueInfo(f.b)
			if err != nil {
				return g, types, atIndex(err, "value_info", nvi)
			}
			nvi++
			if withTypes {
				types[v.Name] = v.Type
			}
		}
		if err != nil {
			return g, types, err
		}
	}
	return g, types, nil
}

func (d *decoder) decodeMetadataEntry(g *graph.Graph, b []byte) error {
	var k, v string
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return at(err, "metadata")
		}
		b = b[n:]
		switch f.num {
		case fMapKey:
			k, err = d.fieldStr(f, "key")
		case fMapValue:
			v, err = d.fieldStr(f, "value")
		}
		if err != nil {
			return at(err, "metadata")
		}
	}
	if g.Metadata == nil {
		g.Metadata = map[string]string{}
	}
	g.Metadata[k] = v
	return nil
}

func (d *decoder) decodePatch(b []byte) (*graph.Patch, error) {
	p := &graph.Patch{}
	if n := countField(b, fPatchRewrites); n > 0 {
		if err := d.charge(int64(n) * sizeRewrite); err != nil {
			return p, err
		}
		p.Rewrites = make([]graph.Rewrite, 0, n)
	}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return p, err
		}
		b = b[n:]
		if f.num != fPatchRewrites {
			continue
		}
		if err := f.want(bytesType, "rewrites"); err != nil {
			return p, err
		}
		rw, err := d.decodeRewrite(f.b)
		p.Rewrites = append(p.Rewrites, rw)
		if err != nil {
			return p, atIndex(err, "rewrites", len(p.Rewrites)-1)
		}
	}
	return p, nil
}

func (d *decoder) decodeRewrite(b []byte) (graph.Rewrite, error) {
	var rw graph.Rewrite
	if n := countField(b, fRwRemaps); n > 0 {
		if err := d.charge(int64(n) * sizeRemap); err != nil {
			return rw, err
		}
		rw.Remaps = make([]graph.Remap, 0, n)
	}
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return rw, err
		}
		b = b[n:]
		var s string
		switch f.num {
		case fRwReason:
			rw.Reason, err = d.fieldStr(f, "reason")
		case fRwRemoveNodes:
			s, err = d.fieldStr(f, "remove_nodes")
			rw.RemoveNodes = append(rw.RemoveNodes, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwAddNodes:
			if err = f.want(bytesType, "add_nodes"); err != nil {
				break
			}
			if err = d.charge(sizeNode); err != nil {
				break
			}
			node := &graph.Node{}
			rw.AddNodes = append(rw.AddNodes, node)
			err = atIndex(d.decodeNode(node, f.b, 0), "add_nodes", len(rw.AddNodes)-1)
		case fRwRemaps:
			if err = f.want(bytesType, "remaps"); err != nil {
				break
			}
			var m graph.Remap
			m, err = d.decodeRemap(f.b)
			rw.Remaps = append(rw.Remaps, m)
			err = atIndex(err, "remaps", len(rw.Remaps)-1)
		case fRwAddInitializers:
			if err = f.want(bytesType, "add_initializers"); err != nil {
				break
			}
			var in *graph.Initializer
			in, err = d.decodeInitializer(f.b)
			rw.AddInitializers = append(rw.AddInitializers, in)
			err = atIndex(err, "add_initializers", len(rw.AddInitializers)-1)
		case fRwRemoveInputs:
			s, err = d.fieldStr(f, "remove_inputs")
			rw.RemoveInputs = append(rw.RemoveInputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwRemoveOutputs:
			s, err = d.fieldStr(f, "remove_outputs")
			rw.RemoveOutputs = append(rw.RemoveOutputs, s)
			if err == nil {
				err = d.charge(sizeString)
			}
		case fRwSetInputTypes:
			rw.SetInputTypes, err = d.appendValueInfoField(rw.SetInputTypes, f, "set_input_types")
		case fRwSetOutputTypes:
			rw.SetOutputTypes, err = d.appendValueInfoField(rw.SetOutputTypes, f, "set_output_types")
		}
		if err != nil {
			return rw, err
		}
	}
	return rw, nil
}

func (d *decoder) decodeRemap(b []byte) (graph.Remap, error) {
	var m graph.Remap
	for len(b) > 0 {
		f, n, err := nextField(b)
		if err != nil {
			return m, err
		}
		b = b[n:]
		switch f.num {
		case fRemapFrom:
			m.From, err = d.fieldStr(f, "from")
		case fRemapTo:
			m.To, err = d.fieldStr(f, "to")
		}
		if err != nil {
			return m, err
		}
	}
	return m, nil
}
