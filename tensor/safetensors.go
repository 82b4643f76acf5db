package tensor

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/graphpass/graphpass/graph"
)

// maxHeader bounds the JSON header of a safetensors file (the format's own
// limit is 100 MB).
const maxHeader = 100 << 20

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// ReadSafetensors reads a whole safetensors file into memory. It is meant for
// small test data such as a fixture's reference.safetensors; model weights
// are memory-mapped by package weights instead.
func ReadSafetensors(path string) (map[string]*Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ts, err := ParseSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// ParseSafetensors decodes a safetensors image. Tensors are copied out of b
// into aligned storage. Errors name the tensor at fault.
func ParseSafetensors(b []byte) (map[string]*Tensor, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: %d bytes, too short for a header", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > maxHeader || hlen > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d-byte file", hlen, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hlen], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header: %v", err)
	}
	body := b[8+hlen:]
	out := make(map[string]*Tensor, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %v", name, err)
		}
		dt, err := graph.ParseDType(e.DType)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %v", name, err)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || (d > 0 && n > (1<<62)/int64(d)) {
				return nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
			}
			n *= int64(d)
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > int64(len(body)) {
			return nil, fmt.Errorf("safetensors: tensor %q: offsets [%d,%d] outside the %d-byte data", name, lo, hi, len(body))
		}
		if hi-lo != n*int64(dt.Size()) {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes for %s%v", name, hi-lo, dt, e.Shape)
		}
		t := New(dt, e.Shape...)
		copy(t.data, body[lo:hi])
		out[name] = t
	}
	return out, nil
}

// WriteSafetensors writes tensors in the safetensors format, names sorted.
func WriteSafetensors(w io.Writer, tensors map[string]*Tensor) error {
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	header := map[string]stEntry{}
	var off int64
	for _, k := range names {
		t := tensors[k]
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[k] = stEntry{DType: stName(t.DType), Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.data))}}
		off += int64(len(t.data))
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var buf bytes.Buffer
	_ = binary.Write(&buf, binary.LittleEndian, uint64(len(hj)))
	buf.Write(hj)
	for _, k := range names {
		buf.Write(tensors[k].data)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func stName(dt graph.DType) string {
	switch dt {
	case graph.Bool:
		return "BOOL"
	}
	return map[graph.DType]string{graph.F32: "F32", graph.F16: "F16", graph.BF16: "BF16", graph.F64: "F64",
		graph.I64: "I64", graph.I32: "I32", graph.I8: "I8", graph.U8: "U8", graph.U32: "U32"}[dt]
}
