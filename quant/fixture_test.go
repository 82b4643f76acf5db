package quant

import (
	"sort"
	"strings"
	"testing"
)

const (
	denseFixture = "../testdata/fixtures/qwen3-tiny/model.safetensors"
	mlxFixture   = "../testdata/fixtures/qwen3-tiny-mlx4bit/model.safetensors"
)

// TestMatchesMLXFixture quantizes the bf16 qwen3-tiny checkpoint at 4 bits,
// group 64, and compares with the checkpoint MLX wrote for the same model.
//
// Allowed differences: none in scales and biases; in codes, only values that
// sit exactly on a rounding tie ((w-bias)/scale = n+0.5 in f32), where MLX's
// GPU and CUDA kernels round half away from zero and its CPU kernel (which we
// follow) rounds half to even. Such codes differ by exactly 1, and the test
// counts them and bounds their share.
func TestMatchesMLXFixture(t *testing.T) {
	dense := readST(t, denseFixture)
	mlx := readST(t, mlxFixture)
	var names []string
	for name := range mlx {
		if strings.HasSuffix(name, ".scales") {
			names = append(names, strings.TrimSuffix(name, ".scales"))
		}
	}
	sort.Strings(names)
	if len(names) != 15 { // 7 linears × 2 layers + the embedding
		t.Fatalf("fixture has %d quantized modules, want 15", len(names))
	}
	var total, ties, tieDiffs int
	for _, mod := range names {
		src := dense[mod+".weight"]
		m, err := QuantizeBytes(src.Data, src.DType, src.Shape[0], src.Shape[1], Default)
		if err != nil {
			t.Fatalf("%s: %v", mod, err)
		}
		want := mlx[mod+".weight"]
		if got := []int{m.Rows, m.PackedWidth(m.Cols)}; got[0] != want.Shape[0] || got[1] != want.Shape[1] {
			t.Fatalf("%s: packed shape %v, MLX %v", mod, got, want.Shape)
		}
		if string(m.Scales) != string(mlx[mod+".scales"].Data) {
			t.Errorf("%s: scales differ from MLX's", mod)
		}
		if string(m.Biases) != string(mlx[mod+".biases"].Data) {
			t.Errorf("%s: biases differ from MLX's", mod)
		}
		ref, err := NewMatrix(want.Data, mlx[mod+".scales"].Data, mlx[mod+".biases"].Data, src.DType, m.Rows, m.Cols, Default)
		if err != nil {
			t.Fatalf("%s: MLX triplet: %v", mod, err)
		}
		row := make([]float32, m.Cols)
		for r := 0; r < m.Rows; r++ {
			DecodeRow(row, src.Data[r*m.Cols*2:(r+1)*m.Cols*2], src.DType)
			got, exp := m.Codes(r), ref.Codes(r)
			for k := range got {
				total++
				j := k / m.GroupSize
				scale, bias := groupScaleBias(row[j*m.GroupSize:(j+1)*m.GroupSize], float32(m.Levels()))
				v := (row[k] - bias) / scale
				tie := v-float32(int(v)) == 0.5
				if tie {
					ties++
				}
				if got[k] == exp[k] {
					continue
				}
				if !tie || absInt(int(got[k])-int(exp[k])) != 1 {
					t.Fatalf("%s[%d,%d]: code %d, MLX %d (w=%g, (w-bias)/scale=%g)", mod, r, k, got[k], exp[k], row[k], v)
				}
				tieDiffs++
			}
		}
	}
	t.Logf("%d codes, %d exact rounding ties, %d differ from MLX (all ties)", total, ties, tieDiffs)
	if ties == 0 {
		t.Error("no rounding ties met: the test does not exercise tie rounding")
	}
	if tieDiffs*1000 > total {
		t.Errorf("%d of %d codes differ (ties); more than 0.1%%", tieDiffs, total)
	}
	// Words must then agree everywhere a tie did not intervene.
	if tieDiffs == 0 {
		for _, mod := range names {
			src := dense[mod+".weight"]
			m, _ := QuantizeBytes(src.Data, src.DType, src.Shape[0], src.Shape[1], Default)
			if string(m.WordBytes()) != string(mlx[mod+".weight"].Data) {
				t.Errorf("%s: packed words differ", mod)
			}
		}
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
