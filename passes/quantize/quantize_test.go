package quantize_test

import (
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	"github.com/graphpass/graphpass/passes/quantize"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/sdk/passtest"
	"github.com/graphpass/graphpass/weights"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

// materialize computes the derived initializers of after (as the host
// does) and returns before with every quantized weight replaced by its
// dequantized value: the graph the rewritten one must compute exactly.
func materialize(t *testing.T, before, after *graph.Graph) *graph.Graph {
	t.Helper()
	store := weights.NewStore()
	t.Cleanup(func() { store.Close() })
	if _, err := store.Materialize(after, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	ref := before.Clone()
	for _, n := range after.Nodes {
		if n.Op != "QuantizedMatMul" && n.Op != "QuantizedGather" {
			continue
		}
		wi := 1
		if n.Op == "QuantizedGather" {
			wi = 0
		}
		w, s, b := after.Initializer(n.Inputs[wi]), after.Initializer(n.Inputs[wi+1]), after.Initializer(n.Inputs[wi+2])
		src := ref.Initializer(findSource(t, n))
		if src == nil || src.Type.DType == graph.F32 && src.Ref == nil {
			continue // already replaced (a tied table read twice)
		}
		wb, _ := store.Bytes(w)
		sb, _ := store.Bytes(s)
		bb, _ := store.Bytes(b)
		p := quant.Params{Bits: int(n.Int("bits")), GroupSize: int(n.Int("group_size"))}
		rows := int(w.Type.Shape[0].Size)
		cols, err := p.ColsFromPacked(int(w.Type.Shape[1].Size))
		if err != nil {
			t.Fatal(err)
		}
		m, err := quant.NewMatrix(wb, sb, bb, s.Type.DType, rows, cols, p)
		if err != nil {
			t.Fatal(err)
		}
		deq := m.Dequantize()
		if transposed[n.Name] { // Conv1D: stored [K, N]
			tr := make([]float32, len(deq))
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					tr[c*rows+r] = deq[r*cols+c]
				}
			}
			deq = tr
		}
		data := make([]byte, 4*len(deq))
		for i, f := range deq {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
		}
		src.Type.DType, src.Data, src.Ref = graph.F32, data, nil
	}
	return ref
}

// findSource returns the dense initializer a quantized node's weight was
// derived from (recorded from its derivation before materializing).
func findSource(t *testing.T, n *graph.Node) string {
	t.Helper()
	name := sources[n.Name]
	if name == "" {
		t.Fatalf("no source recorded for %s", n.Name)
	}
	return name
}

var (
	sources    = map[string]string{}
	transposed = map[string]bool{}
)

// record notes each quantized node's source weight before materializing.
func record(after *graph.Graph) {
	for _, n := range after.Nodes {
		wi := 1
		if n.Op == "QuantizedGather" {
			wi = 0
		} else if n.Op != "QuantizedMatMul" {
			continue
		}
		if in := after.Initializer(n.Inputs[wi]); in != nil && in.Derive != nil {
			sources[n.Name] = in.Derive.Source
			transposed[n.Name] = in.Derive.Attrs["transpose"].Int == 1
		}
	}
}

func TestQuantizeQwen3(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    string
		qmm, qg int
		note    string
	}{
		// qwen3-tiny: hidden 64, intermediate 128. Seed rules at group 64
		// need both dims ≥ 128: nothing qualifies.
		{"seed g64", `{}`, 0, 0, "both dims ≥ 2×group size (128)"},
		{"seed g32", `{"group_size": 32}`, 14, 0, "seed rules skip embedding tables"},
		{"seed g32 with embeddings", `{"group_size": 32, "include_embeddings": true}`, 15, 1, ""},
		{"seed g32 excluding down_proj", `{"group_size": 32, "exclude": ["*.down_proj"]}`, 12, 0, "excluded by pattern"},
		{"mlx", `{"rules": "mlx"}`, 15, 1, ""},
		{"mlx 8-bit", `{"rules": "mlx", "bits": 8}`, 15, 1, ""},
		{"mlx 3-bit g128", `{"rules": "mlx", "bits": 3, "group_size": 128}`, 4, 0, "not divisible by group size 128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
			o := passtest.RunBoth(t, quantize.Pass, "quantize.wasm.gz", g, tc.opts)
			ops := o.After.OpCounts()
			if ops["QuantizedMatMul"] != tc.qmm || ops["QuantizedGather"] != tc.qg {
				t.Fatalf("ops %v, want %d QuantizedMatMul and %d QuantizedGather; notes %v", ops, tc.qmm, tc.qg, o.NoteMessages())
			}
			if tc.note != "" && !o.HasNote(tc.note) {
				t.Errorf("notes %v, want one containing %q", o.NoteMessages(), tc.note)
			}
			for _, in := range o.After.Initializers {
				if d := in.Derive; d != nil && (d.Op != quant.DeriveOp || o.After.Initializer(d.Source) == nil) {
					t.Errorf("%s: derivation %+v", in.Name, d)
				}
			}
			if tc.qmm == 0 {
				return
			}
			record(o.After)
			ref := materialize(t, g, o.After)
			passtest.Equivalent(t, ref, o.After, passtest.Dims{"batch": 2, "seq": 3, "past": 0}, 2e-5)
		})
	}
}

// TestQuantizeConv1D: GPT-2's Conv1D weights ([in, out], MatMul
// transpose_b=0) are quantized through a transposing derivation under
// mlx rules, and left alone (with a note) under the seed's.
func TestQuantizeConv1D(t *testing.T) {
	g := testmodels.Fixture(t, "gpt2-tiny", model.BuildOptions{})
	o := passtest.RunBoth(t, quantize.Pass, "quantize.wasm.gz", g, `{"rules": "mlx"}`)
	if n := o.After.OpCounts()["QuantizedMatMul"]; n != 9 {
		t.Fatalf("%d QuantizedMatMul, want 9 (8 Conv1D + tied lm_head)", n)
	}
	transposed := 0
	for _, in := range o.After.Initializers {
		if in.Derive != nil && in.Derive.Attrs["transpose"].Int == 1 {
			transposed++
		}
	}
	if transposed != 8*3 {
		t.Errorf("%d transposing derivations, want 24", transposed)
	}
	record(o.After)
	ref := materialize(t, g, o.After)
	passtest.Equivalent(t, ref, o.After, passtest.Dims{"batch": 2, "seq": 3, "past": 0}, 2e-5)

	o = passtest.RunBoth(t, quantize.Pass, "quantize.wasm.gz", g, `{"group_size": 32}`)
	if o.Rewrites() != 0 || !o.HasNote("Conv1D") {
		t.Errorf("seed rules: %d rewrites, notes %v", o.Rewrites(), o.NoteMessages())
	}
}

func TestQuantizeOptionErrors(t *testing.T) {
	g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
	for opts, want := range map[string]string{
		`{"bits": 7}`:        "bits",
		`{"group_size": 48}`: "group_size",
		`{"rules": "gguf"}`:  "rules",
		`{"exclude": ["["]}`: "exclude pattern",
		`{"skip_rows": 0}`:   "skip_rows",
		`{"bitz": 4}`:        "bitz",
	} {
		e := passtest.RunError(t, quantize.Pass, g, opts)
		if e.Code != "invalid_options" || !strings.Contains(e.Message, want) {
			t.Errorf("%s: error %v, want invalid_options mentioning %q", opts, e, want)
		}
	}
}

// TestQuantizeIdempotent: a second run finds nothing left to quantize.
func TestQuantizeIdempotent(t *testing.T) {
	g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
	o := passtest.Run(t, quantize.Pass, g, `{"rules": "mlx"}`)
	again := passtest.Run(t, quantize.Pass, o.After, `{"rules": "mlx"}`)
	if again.Rewrites() != 0 {
		t.Errorf("second run rewrote %d weights", again.Rewrites())
	}
}
