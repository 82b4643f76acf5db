//go:build unix

package metal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// checkpoint writes a file of size bytes (byte i = i*7 mod 251) and
// returns its path and contents.
func checkpoint(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func bf16Slot(path string, off, rows, cols int64) *gpu.WeightSlot {
	return &gpu.WeightSlot{Name: "w", Form: gpu.FormNative, DType: graph.BF16, Shape: []int64{rows, cols},
		Init: &graph.Initializer{Name: "w", Type: graph.TensorType{DType: graph.BF16, Shape: graph.StaticShape(rows, cols)},
			Ref: &graph.WeightRef{File: path, Offset: off, Length: 2 * rows * cols}}}
}

// TestLocateWeight maps a file the way MapWeight does and checks that the
// window handed to newBufferWithBytesNoCopy is page-aligned, whole pages,
// and holds the tensor's bytes at the binding offset.
func TestLocateWeight(t *testing.T) {
	page := int64(os.Getpagesize())
	size := int(3*page + 100)
	path, data := checkpoint(t, size)
	var fs fileMaps
	for _, off := range []int64{0, 16, page - 32, page + 4096, 3 * page} {
		w := bf16Slot(path, off, 2, 25) // 100 bytes
		mw, why, err := fs.locateWeight(w, page, 0)
		if err != nil || mw == nil {
			t.Fatalf("offset %d: not mapped (%q, %v)", off, why, err)
		}
		p := mw.file.at(mw.window.Start)
		if uintptr(p)%uintptr(page) != 0 || mw.window.Length%page != 0 {
			t.Errorf("offset %d: window at %p, %d bytes: not whole pages of %d", off, p, mw.window.Length, page)
		}
		got := unsafe.Slice((*byte)(unsafe.Add(p, mw.window.Offset)), mw.size)
		if !bytes.Equal(got, data[off:off+100]) {
			t.Errorf("offset %d: the window holds other bytes at its offset", off)
		}
	}
	if n := fs.mapped(); n != 1 {
		t.Errorf("%d mappings of one file, want 1", n)
	}
	// Five references were taken; the mapping goes with the last.
	m := fs.files[mustAbs(t, path)]
	for i := 0; i < 5; i++ {
		if err := fs.release(m); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.mapped(); n != 0 {
		t.Errorf("%d mappings left after every release", n)
	}
}

func TestLocateWeightCopies(t *testing.T) {
	page := int64(os.Getpagesize())
	path, _ := checkpoint(t, int(2*page))
	var fs fileMaps
	cases := []struct {
		name   string
		w      *gpu.WeightSlot
		maxLen int64
		why    string
	}{
		{"misaligned", bf16Slot(path, 8, 2, 8), 0, "not 16-byte aligned"},
		{"over maxBufferLength", bf16Slot(path, 0, 2, 8), page / 2, "maxBufferLength"},
		{"widened", &gpu.WeightSlot{Form: gpu.FormF32, DType: graph.F32, Shape: []int64{4}, Init: &graph.Initializer{
			Type: graph.TensorType{DType: graph.BF16, Shape: graph.StaticShape(4)}, Ref: &graph.WeightRef{File: path, Length: 8}}}, 0, "widened"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mw, why, err := fs.locateWeight(c.w, page, c.maxLen)
			if err != nil || mw != nil || !strings.Contains(why, c.why) {
				t.Fatalf("locateWeight = %v, %q, %v; want a copy because %q", mw, why, err, c.why)
			}
		})
	}
	if n := fs.mapped(); n != 0 {
		t.Errorf("a weight that is copied left %d mappings behind", n)
	}
	if _, _, err := fs.locateWeight(bf16Slot(filepath.Join(t.TempDir(), "missing.safetensors"), 0, 2, 8), page, 0); err == nil || !strings.Contains(err.Error(), "weight w") {
		t.Errorf("a missing file: err = %v, want one naming the weight", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestWrappedWeightBuffer: a weight wrapped from its file reads back its
// bytes, refuses writes (the mapping is read-only: a write would fault),
// and gives its mapping back when forgotten.
func TestWrappedWeightBuffer(t *testing.T) {
	page := int64(os.Getpagesize())
	path, data := checkpoint(t, int(page+4096))
	var fs fileMaps
	mw, why, err := fs.locateWeight(bf16Slot(path, page+64, 4, 16), page, 0)
	if err != nil || mw == nil {
		t.Fatalf("not mapped: %q %v", why, err)
	}
	b := &buffer{id: 1, ptr: mw.file.at(mw.window.Start), size: mw.size, base: mw.window.Offset, readOnly: true, file: mw.file}
	got := make([]byte, 32)
	if err := b.download(got, 8); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[page+64+8:page+64+40]) {
		t.Errorf("download read other bytes")
	}
	if err := b.upload(0, []byte{1}); err == nil || !strings.Contains(err.Error(), "read-only from "+mustAbs(t, path)) {
		t.Errorf("upload into a wrapped weight: err = %v", err)
	}
	if err := fs.forget(b); err != nil {
		t.Fatal(err)
	}
	if n := fs.mapped(); n != 0 || b.file != nil {
		t.Errorf("after forget: %d mappings, file %v", n, b.file)
	}
	if err := fs.forget(b); err != nil {
		t.Errorf("forgetting twice: %v", err)
	}
}

// TestLocateWeightCheckpoints runs the wrap decision over real checkpoints
// (the bundled model and an MLX 4-bit fixture) with Apple silicon's 16 KiB
// pages: every tensor at a 16-byte-aligned offset is wrapped and its window
// holds exactly its bytes (compared with an independent read of the file);
// every other tensor is copied.
func TestLocateWeightCheckpoints(t *testing.T) {
	const page = 16 << 10
	for _, path := range []string{"../models/kjv-fortunes-7m/model.safetensors", "../testdata/fixtures/qwen3-tiny-mlx4bit/model.safetensors"} {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h, err := weights.ParseHeader(file)
			if err != nil {
				t.Fatal(err)
			}
			var fs fileMaps
			var held []*fileMap
			wrapped := 0
			for _, ti := range h.Tensors {
				w := &gpu.WeightSlot{Name: ti.Name, Form: gpu.FormNative, DType: ti.DType, Shape: ti.Shape,
					Init: &graph.Initializer{Name: ti.Name, Type: ti.Type(), Ref: &graph.WeightRef{File: path, Offset: ti.Offset, Length: ti.Length}}}
				mw, why, err := fs.locateWeight(w, page, 0)
				if err != nil {
					t.Fatal(err)
				}
				if ti.Offset%weightAlign != 0 {
					if mw != nil || !strings.Contains(why, "not 16-byte aligned") {
						t.Errorf("%s at %d: wrapped %v (%q), want a copy", ti.Name, ti.Offset, mw != nil, why)
					}
					continue
				}
				if mw == nil {
					t.Errorf("%s at %d: copied (%q), want wrapped", ti.Name, ti.Offset, why)
					continue
				}
				held = append(held, mw.file)
				wrapped++
				got := unsafe.Slice((*byte)(unsafe.Add(mw.file.at(mw.window.Start), mw.window.Offset)), mw.size)
				if !bytes.Equal(got, file[ti.Offset:ti.Offset+ti.Length]) {
					t.Errorf("%s: the window does not hold the tensor's bytes", ti.Name)
				}
			}
			t.Logf("%s: %d of %d tensors wrapped in place (data starts at byte %d)", path, wrapped, len(h.Tensors), h.DataStart)
			for _, m := range held {
				if err := fs.release(m); err != nil {
					t.Fatal(err)
				}
			}
			if fs.mapped() != 0 {
				t.Error("mapping left behind")
			}
		})
	}
}
