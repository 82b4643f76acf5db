package quant

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/weights"
)

// TestDeriverMaterialize runs the registered deriver the way the host
// does (weights.Materialize on a graph whose initializers request it) and
// compares the materialised bytes with MLX's checkpoint.
func TestDeriverMaterialize(t *testing.T) {
	store := weights.NewStore()
	defer store.Close()
	path, _ := filepath.Abs(denseFixture)
	f, err := store.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	const name = "model.layers.0.mlp.down_proj.weight"
	ref, ok := f.Ref(name)
	if !ok {
		t.Fatalf("%s missing", name)
	}
	info, _ := f.Tensor(name)
	srcType := info.Type()
	types, err := OutputTypes(srcType, Default)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]graph.Attr{"bits": graph.Int(4), "group_size": graph.Int(64)}
	g := &graph.Graph{Name: "g", Initializers: []*graph.Initializer{{Name: name, Type: srcType, Ref: ref}}}
	for i, suffix := range []string{".qweight", ".scales", ".biases"} {
		g.Initializers = append(g.Initializers, &graph.Initializer{Name: name + suffix, Type: types[i],
			Derive: &graph.Derivation{Op: DeriveOp, Source: name, Attrs: attrs, Output: i}})
	}
	stats, err := store.Materialize(g, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Derivations != 1 || stats.Computed != 1 {
		t.Errorf("stats %+v, want one derivation computed", stats)
	}
	mlx := readST(t, mlxFixture)
	for i, want := range []string{"model.layers.0.mlp.down_proj.weight", "model.layers.0.mlp.down_proj.scales", "model.layers.0.mlp.down_proj.biases"} {
		in := g.Initializers[1+i]
		if in.Derive != nil || in.Ref == nil {
			t.Fatalf("%s not materialised", in.Name)
		}
		got, err := store.Bytes(in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(mlx[want].Data) {
			t.Errorf("%s differs from MLX's %s", in.Name, want)
		}
	}
}

func TestDeriverErrors(t *testing.T) {
	fn, ok := weights.Deriver(DeriveOp)
	if !ok {
		t.Fatal("affine_quantize not registered")
	}
	bf16 := func(dims ...int64) weights.Tensor {
		ty := graph.T(graph.BF16, graph.StaticShape(dims...)...)
		return weights.Tensor{Type: ty, Data: make([]byte, ty.ByteSize())}
	}
	for _, tc := range []struct {
		name  string
		src   weights.Tensor
		attrs map[string]graph.Attr
		want  string
	}{
		{"bits", bf16(4, 64), map[string]graph.Attr{"bits": graph.Int(7)}, "bits 7"},
		{"attr kind", bf16(4, 64), map[string]graph.Attr{"group_size": graph.Float(64)}, `"group_size" is float`},
		{"rank", bf16(64), nil, "rank-2"},
		{"group", bf16(4, 96), nil, "not divisible by group size 64"},
		{"transpose kind", bf16(64, 4), map[string]graph.Attr{"transpose": graph.String("yes")}, `"transpose" must be int 0 or 1`},
		{"transposed group", bf16(96, 4), map[string]graph.Attr{"transpose": graph.Int(1)}, "input dim 96 is not divisible"},
		{"dtype", weights.Tensor{Type: graph.T(graph.I32, graph.D(4), graph.D(64)), Data: make([]byte, 1024)}, nil, "cannot quantize a i32 weight"},
	} {
		_, err := fn(tc.src, tc.attrs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to say %q", tc.name, err, tc.want)
		}
	}
}

// TestDeriveTranspose quantizes a [K, N] (Conv1D) source with transpose=1
// and checks it equals quantizing the transposed matrix.
func TestDeriveTranspose(t *testing.T) {
	fn, _ := weights.Deriver(DeriveOp)
	const k, n = 64, 3
	src := make([]float32, k*n) // [K, N]
	for i := range src {
		src[i] = float32(i%11) - 5
	}
	b := make([]byte, 4*len(src))
	for i, f := range src {
		storeScalar(b, graph.F32, i, f)
	}
	outs, err := fn(weights.Tensor{Type: graph.T(graph.F32, graph.D(k), graph.D(n)), Data: b},
		map[string]graph.Attr{"transpose": graph.Int(1), "bits": graph.Int(8)})
	if err != nil {
		t.Fatal(err)
	}
	tr := make([]float32, k*n) // [N, K]
	for r := 0; r < k; r++ {
		for c := 0; c < n; c++ {
			tr[c*k+r] = src[r*n+c]
		}
	}
	m, _ := Quantize(tr, n, k, Params{8, 64}, graph.F32)
	if !outs[0].Type.Equal(graph.T(graph.U32, graph.D(n), graph.D(16))) || string(outs[0].Data) != string(m.WordBytes()) ||
		string(outs[1].Data) != string(m.Scales) || string(outs[2].Data) != string(m.Biases) {
		t.Errorf("transposed derivation differs from quantizing the transpose (types %s %s %s)", outs[0].Type, outs[1].Type, outs[2].Type)
	}
}
