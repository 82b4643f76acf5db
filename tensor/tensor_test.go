package tensor

import (
	"bytes"
	"math"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

func TestBF16RoundTrip(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0},
		{float32(math.Inf(1)), 0x7f80},
		// 1 + 2^-8 is exactly halfway between bf16 1 and 1+2^-7: ties to even (1).
		{1 + 1.0/256, 0x3f80},
		// 1 + 3·2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6: ties to even (up).
		{1 + 3.0/256, 0x3f82},
		{1 + 1.0/256 + 1.0/65536, 0x3f81}, // above halfway rounds up
		{math.MaxFloat32, 0x7f80},         // overflows to +Inf, as PyTorch
	}
	for _, tt := range tests {
		if got := F32ToBF16(tt.in); got != tt.want {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
	if v := BF16ToF32(F32ToBF16(float32(math.NaN()))); !math.IsNaN(float64(v)) {
		t.Errorf("NaN became %g", v)
	}
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if f != f {
			continue
		}
		if back := F32ToBF16(f); back != uint16(h) {
			t.Fatalf("bf16 %#04x -> %g -> %#04x", h, f, back)
		}
	}
}

// nearestF16 finds the f16 nearest to f by exhaustive search (ties to even),
// an independent check of F32ToF16 on finite values in range.
func nearestF16(f float32) uint16 {
	best, bestErr := uint16(0), math.Inf(1)
	for h := 0; h < 0x7c00; h++ {
		for _, s := range []uint16{0, 0x8000} {
			c := uint16(h) | s
			e := math.Abs(float64(F16ToF32(c)) - float64(f))
			if e < bestErr || (e == bestErr && c&1 == 0 && best&1 == 1) {
				best, bestErr = c, e
			}
		}
	}
	return best
}

func TestF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if f != f {
			if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x -> %#04x", h, back)
			}
			continue
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("f16 %#04x -> %g -> %#04x", h, f, back)
		}
	}
	if F16ToF32(0x3c00) != 1 || F16ToF32(0x0001) != float32(math.Ldexp(1, -24)) || F16ToF32(0x7bff) != 65504 {
		t.Fatal("F16ToF32 constants wrong")
	}
	r := NewRand(1)
	vals := []float32{65519, 65520, 1e-8, 3e-8, 2.9802322e-08, -5.96e-8, 1.00048828125, 1.000732421875}
	for i := 0; i < 300; i++ {
		vals = append(vals, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(9)-6))))
	}
	for _, f := range vals {
		got := F32ToF16(f)
		if math.Abs(float64(f)) >= 65520 {
			if got&0x7fff != 0x7c00 {
				t.Errorf("F32ToF16(%g) = %#04x, want Inf", f, got)
			}
			continue
		}
		if want := nearestF16(f); got != want && !(got&0x7fff == 0 && want&0x7fff == 0) {
			t.Errorf("F32ToF16(%g) = %#04x (%g), want %#04x (%g)", f, got, F16ToF32(got), want, F16ToF32(want))
		}
	}
}

func TestConvert(t *testing.T) {
	x := FromF32([]int{2, 3}, []float32{-1.7, 0, 2.5, 3.99, -0.2, 1e10})
	tests := []struct {
		dt   graph.DType
		want []float64
	}{
		{graph.I64, []float64{-1, 0, 2, 3, 0, 1e10}},
		{graph.Bool, []float64{1, 0, 1, 1, 1, 1}},
		{graph.BF16, []float64{-1.703125, 0, 2.5, 3.984375, -0.2001953125, 9999220736}},
		{graph.I8, []float64{-1, 0, 2, 3, 0, 0}}, // 1e10 wraps in 8 bits
	}
	for _, tt := range tests {
		c := x.Convert(tt.dt)
		for i, w := range tt.want {
			if tt.dt == graph.I8 && i == 5 {
				continue
			}
			if got := c.Float64At(i); got != w {
				t.Errorf("%s[%d] = %g, want %g", tt.dt, i, got, w)
			}
		}
	}
	if got := FromI64([]int{2}, []int64{3, -4}).ToF32(); got[0] != 3 || got[1] != -4 {
		t.Errorf("i64 ToF32 = %v", got)
	}
}

func TestViewsPanicOnWrongDType(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("F32 view of an i64 tensor did not panic")
		}
	}()
	New(graph.I64, 2).F32()
}

func TestFromBytesChecks(t *testing.T) {
	if _, err := FromBytes(graph.F32, []int{3}, make([]byte, 8)); err == nil {
		t.Error("length mismatch accepted")
	}
	b := New(graph.F32, 3).Bytes()
	if _, err := FromBytes(graph.F32, []int{2}, b[1:9]); err == nil {
		t.Error("misaligned f32 accepted")
	}
	if _, err := FromBytes(graph.F32, []int{2}, b[4:12]); err != nil {
		t.Error(err)
	}
}

func TestCompare(t *testing.T) {
	d := Compare([]float32{1, 2, 3.5}, []float32{1, 2, 4})
	if d.MaxAbs != 0.5 || d.MaxRef != 4 || d.Rel != 0.125 || d.Index != 2 {
		t.Errorf("Compare = %+v", d)
	}
	if d := Compare([]float32{float32(math.NaN())}, []float32{1}); !d.NaN || !math.IsInf(d.Rel, 1) {
		t.Errorf("NaN not flagged: %+v", d)
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	r := NewRand(7)
	in := map[string]*Tensor{
		"a": RandUniform(r, -1, 1, 2, 3),
		"b": FromI64([]int{4}, []int64{1, 2, 3, -4}),
		"c": RandOf(r, graph.BF16, -2, 2, 5),
		"s": Scalar(3),
	}
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ParseSafetensors(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range in {
		if !Equal(out[k], v) {
			t.Errorf("%s: got %v want %v", k, out[k], v)
		}
	}
}

func TestReadFixtureReference(t *testing.T) {
	ts, err := ReadSafetensors("../testdata/fixtures/qwen3-tiny/reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ids, mask := ts["input_ids"], ts["attention_mask"]
	if ids == nil || mask == nil || ids.DType != graph.I64 || len(ids.Shape) != 2 || ids.Shape[0] != 2 || ids.Shape[1] != 8 {
		t.Fatalf("input_ids = %v", ids)
	}
	// Row 1 is left-padded by 3 (see the fixtures' README).
	m := mask.I64()
	if m[8] != 0 || m[10] != 0 || m[11] != 1 || m[0] != 1 {
		t.Errorf("attention_mask = %v", m)
	}
	lg := ts["logits"]
	if lg.DType != graph.F32 || lg.Shape[2] != 512 {
		t.Errorf("logits %s%v", lg.DType, lg.Shape)
	}
}

func TestParseSafetensorsErrors(t *testing.T) {
	tests := map[string][]byte{
		"short":        {1, 2},
		"huge header":  append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, '{', '}'),
		"bad json":     append([]byte{2, 0, 0, 0, 0, 0, 0, 0}, '{', 'x'),
		"out of range": header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4),
		"size":         header(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8),
		"dtype":        header(`{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}`, 8),
	}
	for name, b := range tests {
		if _, err := ParseSafetensors(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func header(h string, data int) []byte {
	b := make([]byte, 8, 8+len(h)+data)
	b[0] = byte(len(h))
	b = append(b, h...)
	return append(b, make([]byte, data)...)
}

func FuzzParseSafetensors(f *testing.F) {
	f.Add(header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(header(`{"__metadata__":{"x":"y"}}`, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseSafetensors(b)
		if err != nil {
			return
		}
		for _, v := range ts {
			if len(v.Bytes()) != v.Len()*v.DType.Size() {
				t.Fatalf("tensor %v has %d bytes", v.Shape, len(v.Bytes()))
			}
		}
	})
}
