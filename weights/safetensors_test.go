package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// rawFile builds a safetensors image from a literal JSON header and a data
// section of dataLen bytes.
func rawFile(header string, dataLen int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(make([]byte, dataLen))
	return b.Bytes()
}

func TestParseHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "truncated: 0 bytes"},
		{"short", []byte{1, 2, 3}, "truncated: 3 bytes"},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "header length 1000 exceeds the 2 bytes"},
		{"header over limit", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds the format's limit"},
		{"not json", rawFile("hello!!!", 0), "not a JSON object"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, 2), `tensor "a": unknown or unsupported dtype "F8_E4M3"`},
		{"unsupported dtype", rawFile(`{"a":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}`, 4), `tensor "a": unknown or unsupported dtype "U16"`},
		{"offsets past end", rawFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), `tensor "a": data offsets [0, 16) are outside the 8 data bytes`},
		{"shape disagrees", rawFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), `tensor "a": shape [3] of F32 needs 12 bytes`},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), `tensors "a" [0, 8) and "b" [4, 12) overlap`},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), `tensor "b" starts at data offset 8, leaving a gap`},
		{"trailing bytes", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 10), "tensors end at data offset 4 but the file has 10 data bytes"},
		{"missing field", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4), `tensor "a": no shape`},
		{"bad offsets", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), `tensor "a": data_offsets must be [begin, end]`},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), `tensor "a": malformed entry`},
		{"bad metadata", rawFile(`{"__metadata__":{"k":1}}`, 0), "__metadata__ must map strings to strings"},
		// Sums that wrap around 2^64 must not slip past the checks.
		{"wrapping offsets", rawFile(`{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}`, 1), `tensor "a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestWriteParseRoundTrip(t *testing.T) {
	entries := []Entry{
		{Name: "w", DType: graph.BF16, Shape: []int64{2, 3}, Data: []byte("abcdefghijkl")},
		{Name: "scalar", DType: graph.F32, Shape: nil, Data: []byte("wxyz")},
		{Name: "streamed", DType: graph.U32, Shape: []int64{2}, Fill: func(w io.Writer) error {
			_, err := w.Write([]byte("01234567"))
			return err
		}},
		{Name: "empty", DType: graph.F16, Shape: []int64{0, 4}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, entries, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	if n := binary.LittleEndian.Uint64(file); n%8 != 0 {
		t.Errorf("header length %d not padded to 8", n)
	}
	h, err := ParseHeader(file)
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", h.Metadata)
	}
	want := map[string]string{"w": "abcdefghijkl", "scalar": "wxyz", "streamed": "01234567", "empty": ""}
	if len(h.Tensors) != len(want) {
		t.Fatalf("%d tensors", len(h.Tensors))
	}
	for _, e := range entries {
		ti, ok := h.Tensor(e.Name)
		if !ok {
			t.Fatalf("no tensor %q", e.Name)
		}
		if ti.DType != e.DType || len(ti.Shape) != len(e.Shape) {
			t.Errorf("%s: %s%v, want %s%v", e.Name, ti.DType, ti.Shape, e.DType, e.Shape)
		}
		if got := string(file[ti.Offset : ti.Offset+ti.Length]); got != want[e.Name] {
			t.Errorf("%s: bytes %q, want %q", e.Name, got, want[e.Name])
		}
	}
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"duplicate", []Entry{{Name: "a", DType: graph.U8, Shape: []int64{1}, Data: []byte{1}}, {Name: "a", DType: graph.U8, Shape: []int64{1}, Data: []byte{1}}}, "duplicate"},
		{"short data", []Entry{{Name: "a", DType: graph.F32, Shape: []int64{2}, Data: []byte{1}}}, `tensor "a": wrote 1 bytes`},
		{"bad dtype", []Entry{{Name: "a", DType: graph.InvalidDType, Shape: []int64{1}}}, "cannot be stored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(io.Discard, tc.entries, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOpenSafetensorsFixture(t *testing.T) {
	s := NewStore()
	defer s.Close()
	f, err := s.OpenSafetensors("../testdata/fixtures/qwen3-tiny/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(f.Path) {
		t.Errorf("Path %q is not absolute", f.Path)
	}
	ti, ok := f.Tensor("model.embed_tokens.weight")
	if !ok || ti.DType != graph.BF16 || ti.Shape[0] != 512 || ti.Shape[1] != 64 || ti.Length != 512*64*2 {
		t.Fatalf("embed_tokens: %+v", ti)
	}
	b, err := f.Bytes("model.norm.weight")
	if err != nil || len(b) != 128 {
		t.Fatalf("norm: %d bytes, %v", len(b), err)
	}
	ref, _ := f.Ref("model.norm.weight")
	in := &graph.Initializer{Name: "model.norm.weight", Type: graph.T(graph.BF16, graph.D(64)), Ref: ref}
	b2, err := s.Bytes(in)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("Store.Bytes disagrees with File.Bytes: %v", err)
	}
	if len(f.Header.Tensors) != 24 || f.Header.Metadata["format"] != "pt" {
		t.Errorf("%d tensors, metadata %v", len(f.Header.Tensors), f.Header.Metadata)
	}
	if _, err := f.Bytes("nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestOpenSafetensorsNamesFile(t *testing.T) {
	p := writeTemp(t, "bad.safetensors", []byte{1, 2})
	s := NewStore()
	defer s.Close()
	_, err := s.OpenSafetensors(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParseHeader checks that no input panics and that an accepted header
// only ever describes byte ranges inside the file that agree with their types.
func FuzzParseHeader(f *testing.F) {
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4))
	f.Add(rawFile(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},"b":{"dtype":"U32","shape":[],"data_offsets":[4,8]}}`, 8))
	f.Add(rawFile(`{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,18446744073709551615]}}`, 1))
	f.Add(rawFile(`{}`, 0))
	f.Add([]byte{})
	var buf bytes.Buffer
	Write(&buf, []Entry{{Name: "x", DType: graph.I64, Shape: []int64{1}, Data: make([]byte, 8)}}, nil)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := ParseHeader(file)
		if err != nil {
			return
		}
		for _, ti := range h.Tensors {
			if ti.Offset < h.DataStart || ti.Length < 0 || ti.Offset+ti.Length > int64(len(file)) {
				t.Fatalf("tensor %q range [%d,+%d) outside %d-byte file", ti.Name, ti.Offset, ti.Length, len(file))
			}
			if ti.Type().ByteSize() != ti.Length {
				t.Fatalf("tensor %q: %s but %d bytes", ti.Name, ti.Type(), ti.Length)
			}
		}
	})
}

type failingWriter struct{ left int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errDiskFull
	}
	f.left -= len(p)
	return len(p), nil
}

var errDiskFull = errors.New("no space left on device")

func TestWriteReportsWriterError(t *testing.T) {
	big := make([]byte, 4<<20)
	err := Write(&failingWriter{left: 1 << 20}, []Entry{{Name: "w", DType: graph.U8, Shape: []int64{int64(len(big))}, Data: big}}, nil)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("err = %v, want the writer's error", err)
	}
}

func BenchmarkOpenSafetensors(b *testing.B) {
	const path = "../models/kjv-fortunes-7m/model.safetensors"
	for i := 0; i < b.N; i++ {
		s := NewStore()
		if _, err := s.OpenSafetensors(path); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
