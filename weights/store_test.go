package weights

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStoreMapsOncePerPath(t *testing.T) {
	p := writeTemp(t, "w.bin", []byte("0123456789"))
	s := NewStore()
	defer s.Close()
	a, err := s.Map(p)
	if err != nil {
		t.Fatal(err)
	}
	// The same file through a different spelling of its path.
	b, err := s.Map(filepath.Join(filepath.Dir(p), ".", "w.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if &a[0] != &b[0] {
		t.Error("file mapped twice")
	}
	if got := s.MappedBytes(); got != 10 {
		t.Errorf("MappedBytes = %d, want 10", got)
	}
	if got := s.Files(); len(got) != 1 || got[0] != p {
		t.Errorf("Files = %v", got)
	}
}

func TestStoreBytes(t *testing.T) {
	p := writeTemp(t, "w.bin", []byte("abcdefghijklmnop"))
	s := NewStore()
	defer s.Close()
	typ := graph.T(graph.F32, graph.D(2))
	tests := []struct {
		name    string
		in      graph.Initializer
		want    string
		wantErr string
	}{
		{"inline", graph.Initializer{Name: "c", Type: typ, Data: []byte("12345678")}, "12345678", ""},
		{"ref", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: 4, Length: 8}}, "efghijkl", ""},
		{"ref at end", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: 8, Length: 8}}, "ijklmnop", ""},
		{"past the end", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: 9, Length: 8}}, "", "outside the file's 16 bytes"},
		{"negative offset", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: -1, Length: 8}}, "", "outside"},
		{"huge offset", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: 1 << 62, Length: 8}}, "", "outside"},
		{"length disagrees with type", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p, Offset: 0, Length: 4}}, "", "needs 8"},
		{"inline wrong size", graph.Initializer{Name: "c", Type: typ, Data: []byte("123")}, "", "needs 8"},
		{"missing file", graph.Initializer{Name: "w", Type: typ, Ref: &graph.WeightRef{File: p + ".nope", Length: 8}}, "", "no such file"},
		{"shape only", graph.Initializer{Name: "w", Type: typ}, "", "has no data"},
		{"derived", graph.Initializer{Name: "q", Type: typ, Derive: &graph.Derivation{Op: "affine_quantize", Source: "w"}}, "", "not materialised"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := s.Bytes(&tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.in.Name) {
					t.Errorf("error %q does not name initializer %q", err, tc.in.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got %q, want %q", b, tc.want)
			}
		})
	}
	_, err := s.Bytes(&graph.Initializer{Name: "w", Type: typ})
	if !errors.Is(err, ErrNoData) {
		t.Errorf("shape-only error %v does not wrap ErrNoData", err)
	}
}

func TestStoreClosed(t *testing.T) {
	p := writeTemp(t, "w.bin", []byte("abcd"))
	s := NewStore()
	if _, err := s.Map(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.MappedBytes() != 0 {
		t.Error("MappedBytes after Close")
	}
	if _, err := s.Map(p); !errors.Is(err, ErrClosed) {
		t.Errorf("Map after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStoreRejectsDirectory(t *testing.T) {
	s := NewStore()
	defer s.Close()
	if _, err := s.Map(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
}

func TestStoreEmptyFile(t *testing.T) {
	p := writeTemp(t, "empty", nil)
	s := NewStore()
	defer s.Close()
	b, err := s.Map(p)
	if err != nil || len(b) != 0 {
		t.Fatalf("Map(empty) = %d bytes, %v", len(b), err)
	}
}

// TestMapDoesNotGrowHeap is the proof that weights never enter the Go heap:
// a 48 MiB file is mapped and every byte read, and the heap grows by less
// than 1 MiB.
func TestMapDoesNotGrowHeap(t *testing.T) {
	if !MmapSupported() {
		t.Skip("this platform reads weights into memory")
	}
	const size = 48 << 20
	p := filepath.Join(t.TempDir(), "big.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for i := 0; i < size/len(chunk); i++ {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	chunk = nil

	s := NewStore()
	defer s.Close()
	before := heapInUse()
	b, err := s.Map(p)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, v := range b {
		sum += uint64(v)
	}
	after := heapInUse()
	if sum == 0 {
		t.Fatal("read nothing")
	}
	growth := int64(after) - int64(before)
	t.Logf("mapped %d MiB, heap growth %d bytes", len(b)>>20, growth)
	if growth > 1<<20 {
		t.Errorf("heap grew by %d bytes while reading a %d-byte mapping", growth, len(b))
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
