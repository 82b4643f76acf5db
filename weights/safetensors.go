package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sort"

	"github.com/nlpodyssey/safetensors"

	"github.com/graphpass/graphpass/graph"
)

// MaxHeaderBytes bounds a safetensors JSON header (the format's own limit).
const MaxHeaderBytes = 100_000_000

// TensorInfo locates one tensor of a safetensors file.
type TensorInfo struct {
	Name   string
	DType  graph.DType
	Shape  []int64
	Offset int64 // absolute byte offset of the first element in the file
	Length int64 // byte length
}

// Type returns the tensor's graph type.
func (t TensorInfo) Type() graph.TensorType {
	return graph.TensorType{DType: t.DType, Shape: graph.StaticShape(t.Shape...)}
}

// Header is a parsed, validated safetensors header.
type Header struct {
	Tensors   []TensorInfo      // in file order (by offset)
	Metadata  map[string]string // the "__metadata__" entry, e.g. {"format": "pt"}
	DataStart int64             // 8 + the JSON header's length
}

// Tensor returns the named tensor's info.
func (h *Header) Tensor(name string) (TensorInfo, bool) {
	for _, t := range h.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// ParseHeader parses and validates the header of a safetensors file whose
// whole content is file (a mapping: nothing is copied). Every tensor's byte
// range is checked to lie inside the file, match its dtype and shape, and not
// overlap another. Errors say what is wrong and with which tensor; callers
// add the file name.
func ParseHeader(file []byte) (*Header, error) {
	size := uint64(len(file))
	if size < 8 {
		return nil, fmt.Errorf("truncated: %d bytes, but a safetensors file starts with an 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(file)
	if n > MaxHeaderBytes {
		return nil, fmt.Errorf("header length %d exceeds the format's limit of %d bytes (not a safetensors file?)", n, MaxHeaderBytes)
	}
	if n > size-8 {
		return nil, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix (truncated file?)", n, size-8)
	}
	dataLen := size - 8 - n
	_, meta, err := safetensors.ReadMetadata(file)
	if err != nil {
		// The library's messages are terse; say precisely what is wrong.
		if derr := diagnose(file[8:8+n], dataLen); derr != nil {
			return nil, derr
		}
		return nil, fmt.Errorf("header: %w", err)
	}
	h := &Header{Metadata: meta.Metadata(), DataStart: int64(8 + n)}
	for name, info := range meta.Tensors() {
		t, err := tensorInfo(name, info.DType.String(), info.Shape, info.DataOffsets, dataLen)
		if err != nil {
			return nil, err
		}
		t.Offset += h.DataStart
		h.Tensors = append(h.Tensors, t)
	}
	sort.Slice(h.Tensors, func(i, j int) bool {
		a, b := h.Tensors[i], h.Tensors[j]
		return a.Offset < b.Offset || (a.Offset == b.Offset && a.Name < b.Name)
	})
	return h, nil
}

// stDTypes maps the safetensors dtype names this project reads.
var stDTypes = map[string]graph.DType{
	"F32": graph.F32, "F16": graph.F16, "BF16": graph.BF16, "F64": graph.F64,
	"I64": graph.I64, "I32": graph.I32, "I8": graph.I8, "U8": graph.U8, "U32": graph.U32, "BOOL": graph.Bool,
}

// STDType is the safetensors spelling of a dtype ("BF16").
func STDType(dt graph.DType) string {
	for k, v := range stDTypes {
		if v == dt {
			return k
		}
	}
	return ""
}

// tensorInfo converts and bounds-checks one header entry (offsets relative
// to the data section of dataLen bytes). The library checks contiguity, but
// its sums can wrap around, so every bound is rechecked here.
func tensorInfo(name, dtype string, shape []uint64, off [2]uint64, dataLen uint64) (TensorInfo, error) {
	dt, ok := stDTypes[dtype]
	if !ok {
		return TensorInfo{}, fmt.Errorf("tensor %q: unknown or unsupported dtype %q (want F32, F16, BF16, F64, I64, I32, I8, U8, U32 or BOOL)", name, dtype)
	}
	if off[0] > off[1] || off[1] > dataLen {
		return TensorInfo{}, fmt.Errorf("tensor %q: data offsets [%d, %d) are outside the %d data bytes (truncated file?)", name, off[0], off[1], dataLen)
	}
	elems := uint64(1)
	s := make([]int64, len(shape))
	for i, d := range shape {
		if d > math.MaxInt64 || (d != 0 && elems > math.MaxInt64/d) {
			return TensorInfo{}, fmt.Errorf("tensor %q: shape %v overflows", name, shape)
		}
		elems *= d
		s[i] = int64(d)
	}
	if elems > math.MaxInt64/8 || elems*uint64(dt.Size()) != off[1]-off[0] {
		return TensorInfo{}, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, but its data offsets [%d, %d) hold %d",
			name, shape, dtype, elems*uint64(dt.Size()), off[0], off[1], off[1]-off[0])
	}
	return TensorInfo{Name: name, DType: dt, Shape: s, Offset: int64(off[0]), Length: int64(off[1] - off[0])}, nil
}

// diagnose re-reads a header the library rejected and names the first
// problem it finds, or returns nil.
func diagnose(header []byte, dataLen uint64) error {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(header))
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("header is not a JSON object: %v", err)
	}
	type entry struct {
		DType       *string  `json:"dtype"`
		Shape       []uint64 `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	var infos []TensorInfo
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		msg := raw[name]
		if name == "__metadata__" {
			var m map[string]string
			if err := json.Unmarshal(msg, &m); err != nil {
				return fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return fmt.Errorf("tensor %q: malformed entry %s: %v", name, truncate(msg), err)
		}
		switch {
		case e.DType == nil:
			return fmt.Errorf("tensor %q: no dtype", name)
		case e.Shape == nil:
			return fmt.Errorf("tensor %q: no shape", name)
		case len(e.DataOffsets) != 2:
			return fmt.Errorf("tensor %q: data_offsets must be [begin, end], got %v", name, e.DataOffsets)
		}
		t, err := tensorInfo(name, *e.DType, e.Shape, [2]uint64{e.DataOffsets[0], e.DataOffsets[1]}, dataLen)
		if err != nil {
			return err
		}
		infos = append(infos, t)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Offset < infos[j].Offset })
	var end int64
	for i, t := range infos {
		if t.Offset < end && t.Length > 0 {
			return fmt.Errorf("tensors %q [%d, %d) and %q [%d, %d) overlap",
				infos[i-1].Name, infos[i-1].Offset, infos[i-1].Offset+infos[i-1].Length, t.Name, t.Offset, t.Offset+t.Length)
		}
		if t.Offset > end {
			return fmt.Errorf("tensor %q starts at data offset %d, leaving a gap after byte %d", t.Name, t.Offset, end)
		}
		end = t.Offset + t.Length
	}
	if uint64(end) != dataLen {
		return fmt.Errorf("tensors end at data offset %d but the file has %d data bytes (truncated or trailing garbage)", end, dataLen)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// File is a memory-mapped safetensors file.
type File struct {
	Path   string // absolute
	Header *Header
	data   []byte
	index  map[string]int
}

// OpenSafetensors maps the safetensors file at path (once per store) and
// parses its header.
func (s *Store) OpenSafetensors(path string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %s: %w", path, err)
	}
	data, err := s.Map(abs)
	if err != nil {
		return nil, err
	}
	h, err := ParseHeader(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f := &File{Path: abs, Header: h, data: data, index: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		f.index[t.Name] = i
	}
	return f, nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Header.Tensors[i], true
}

// Bytes returns the named tensor's bytes (a view of the mapping).
func (f *File) Bytes(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: no tensor %q", f.Path, name)
	}
	return f.data[t.Offset : t.Offset+t.Length : t.Offset+t.Length], nil
}

// Ref returns a reference to the named tensor's bytes for a graph initializer.
func (f *File) Ref(name string) (*graph.WeightRef, bool) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, false
	}
	return &graph.WeightRef{File: f.Path, Offset: t.Offset, Length: t.Length}, true
}
