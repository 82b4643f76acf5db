package tensor

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/graphpass/graphpass/weights"
)

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

// ParseSafetensors decodes a safetensors image, validated by
// weights.ParseHeader (the parser model loading uses). Tensors are copied
// out of b into aligned storage. Errors name the tensor at fault.
func ParseSafetensors(b []byte) (map[string]*Tensor, error) {
	h, err := weights.ParseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	out := make(map[string]*Tensor, len(h.Tensors))
	for _, ti := range h.Tensors {
		shape := make([]int, len(ti.Shape))
		for i, d := range ti.Shape {
			shape[i] = int(d)
		}
		t := New(ti.DType, shape...)
		copy(t.data, b[ti.Offset:ti.Offset+ti.Length])
		out[ti.Name] = t
	}
	return out, nil
}

// WriteSafetensors writes tensors in the safetensors format, names sorted
// (with weights.Write, the writer checkpoints use).
func WriteSafetensors(w io.Writer, tensors map[string]*Tensor) error {
	names := make([]string, 0, len(tensors))
	for k := range tensors {
		names = append(names, k)
	}
	sort.Strings(names)
	entries := make([]weights.Entry, len(names))
	for i, k := range names {
		t := tensors[k]
		shape := make([]int64, len(t.Shape))
		for j, d := range t.Shape {
			shape[j] = int64(d)
		}
		entries[i] = weights.Entry{Name: k, DType: t.DType, Shape: shape, Data: t.data}
	}
	return weights.Write(w, entries, nil)
}
