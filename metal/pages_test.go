package metal

import (
	"strings"
	"testing"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
)

func TestPageWindow(t *testing.T) {
	const k16 = 16 << 10
	cases := []struct {
		name                   string
		off, n, size, page, al int64
		want                   window
		err                    string
	}{
		{"first page", 0, 100, 1 << 20, k16, 16, window{0, k16, 0}, ""},
		{"inside one page", 4096, 512, 1 << 20, k16, 16, window{0, k16, 4096}, ""},
		{"straddles pages", k16 - 16, 32, 1 << 20, k16, 16, window{0, 2 * k16, k16 - 16}, ""},
		{"page aligned, whole pages", 3 * k16, 2 * k16, 1 << 20, k16, 16, window{3 * k16, 2 * k16, 0}, ""},
		{"safetensors-like offset", 8 + 1232 + 2*4096, 2 * 151936 * 64, 1 << 26, k16, 8, window{0, 1188 * k16, 8 + 1232 + 2*4096}, ""},
		{"ends in the file's last partial page", 40000, 1000, 41000, k16, 16, window{2 * k16, k16, 40000 - 2*k16}, ""},
		{"4 KiB pages", 5000 + 120, 100, 1 << 20, 4096, 8, window{4096, 4096, 1024}, ""},
		{"misaligned for vector loads", 1240, 64, 1 << 20, k16, 16, window{}, "not 16-byte aligned"},
		{"past the end", 1 << 20, 16, 1 << 20, k16, 16, window{}, "outside the file"},
		{"overruns the end", 1<<20 - 16, 32, 1 << 20, k16, 16, window{}, "outside the file"},
		{"negative offset", -16, 16, 1 << 20, k16, 16, window{}, "outside the file"},
		{"empty", 0, 0, 1 << 20, k16, 16, window{}, "empty tensor"},
		{"odd page size", 0, 16, 1 << 20, 12288, 16, window{}, "not a power of two"},
		{"alignment above the page", 0, 16, 1 << 20, 4096, 8192, window{}, "alignment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := pageWindow(c.off, c.n, c.size, c.page, c.al)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w != c.want {
				t.Errorf("window = %+v, want %+v", w, c.want)
			}
		})
	}
}

// FuzzPageWindow checks the window's invariants: whole pages, covering the
// tensor, as small as whole pages allow, and the offset that finds it.
func FuzzPageWindow(f *testing.F) {
	f.Add(int64(0), int64(1), int64(1), uint8(14))
	f.Add(int64(16400), int64(70000), int64(200000), uint8(14))
	f.Add(int64(4096), int64(4096), int64(8192), uint8(12))
	f.Fuzz(func(t *testing.T, off, n, size int64, shift uint8) {
		page := int64(1) << (10 + shift%8) // 1 KiB .. 128 KiB
		w, err := pageWindow(off, n, size, page, 16)
		valid := n > 0 && off >= 0 && off <= size && n <= size-off && off%16 == 0
		if (err == nil) != valid {
			t.Fatalf("pageWindow(%d, %d, %d, %d): err %v, valid %v", off, n, size, page, err, valid)
		}
		if err != nil {
			return
		}
		if w.Start%page != 0 || w.Length%page != 0 || w.Length <= 0 {
			t.Fatalf("window %+v is not whole pages of %d", w, page)
		}
		if w.Start > off || off+n > w.Start+w.Length || w.Offset != off-w.Start {
			t.Fatalf("window %+v does not hold [%d, %d)", w, off, off+n)
		}
		if w.Offset >= page || w.Start+w.Length-(off+n) >= page {
			t.Fatalf("window %+v has a spare page around [%d, %d)", w, off, off+n)
		}
		if w.Start+w.Length > (size+page-1)/page*page {
			t.Fatalf("window %+v ends past the file's last page (%d bytes)", w, size)
		}
	})
}

func TestFileBacked(t *testing.T) {
	ref := &graph.WeightRef{File: "/m/model.safetensors", Offset: 4096, Length: 2 * 4 * 8}
	bf16 := graph.TensorType{DType: graph.BF16, Shape: graph.StaticShape(4, 8)}
	f32 := graph.TensorType{DType: graph.F32, Shape: graph.StaticShape(4, 4)}
	cases := []struct {
		name string
		w    gpu.WeightSlot
		ok   bool
		why  string
	}{
		{"native bf16", gpu.WeightSlot{Form: gpu.FormNative, DType: graph.BF16, Shape: []int64{4, 8}, Init: &graph.Initializer{Type: bf16, Ref: ref}}, true, ""},
		{"f32 kept f32", gpu.WeightSlot{Form: gpu.FormF32, DType: graph.F32, Shape: []int64{4, 4}, Init: &graph.Initializer{Type: f32, Ref: &graph.WeightRef{File: "x", Length: 64}}}, true, ""},
		{"bf16 widened", gpu.WeightSlot{Form: gpu.FormF32, DType: graph.F32, Shape: []int64{4, 8}, Init: &graph.Initializer{Type: bf16, Ref: ref}}, false, "widened from bf16"},
		{"i64 narrowed", gpu.WeightSlot{Form: gpu.FormI32, DType: graph.I32, Shape: []int64{8}, Init: &graph.Initializer{Type: graph.TensorType{DType: graph.I64, Shape: graph.StaticShape(8)}, Ref: &graph.WeightRef{File: "x", Length: 64}}}, false, "converted from"},
		{"inline", gpu.WeightSlot{Form: gpu.FormNative, DType: graph.BF16, Shape: []int64{4, 8}, Init: &graph.Initializer{Type: bf16, Data: make([]byte, 64)}}, false, "inline"},
		{"generated", gpu.WeightSlot{Form: gpu.FormF32, DType: graph.F32, Shape: []int64{2}, Data: make([]byte, 8)}, false, "generated"},
		{"derived", gpu.WeightSlot{Form: gpu.FormNative, DType: graph.U32, Shape: []int64{2}, Init: &graph.Initializer{Type: graph.TensorType{DType: graph.U32, Shape: graph.StaticShape(2)}}}, false, "no file reference"},
		{"size mismatch", gpu.WeightSlot{Form: gpu.FormNative, DType: graph.BF16, Shape: []int64{4, 4}, Init: &graph.Initializer{Type: bf16, Ref: ref}}, false, "the file holds 64 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why, ok := fileBacked(&c.w)
			if ok != c.ok || !strings.Contains(why, c.why) {
				t.Fatalf("fileBacked = %v, %q; want %v, %q", ok, why, c.ok, c.why)
			}
			if ok && got != *c.w.Init.Ref {
				t.Errorf("ref = %+v", got)
			}
		})
	}
}
