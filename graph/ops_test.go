package graph

import (
	"strings"
	"testing"
)

func mustShape(t *testing.T, s string) Shape {
	t.Helper()
	sh, err := ParseShape(s)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// inferCase runs InferNode for op with the given input types ("dtype[shape]")
// and attributes; want is the output type string or an error substring
// prefixed with "error:".
type inferCase struct {
	op     string
	inputs []string
	attrs  map[string]Attr
	nout   int
	want   string
}

func parseType(t *testing.T, s string) TensorType {
	t.Helper()
	if s == "" {
		return TensorType{}
	}
	i := strings.Index(s, "[")
	dt, err := ParseDType(s[:i])
	if err != nil {
		t.Fatal(err)
	}
	return TensorType{dt, mustShape(t, s[i:])}
}

var inferCases = []inferCase{
	{op: "Identity", inputs: []string{"f32[batch,4]"}, want: "f32[batch,4]"},
	{op: "Neg", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Abs", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Sqrt", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Rsqrt", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Exp", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Log", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Sin", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Cos", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Tanh", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Erf", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Sigmoid", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Silu", inputs: []string{"f32[2]"}, want: "f32[2]"},
	{op: "Silu", inputs: []string{"f32[2]", "f32[2]"}, want: "error:inputs"},
	{op: "Gelu", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"approximate": String("tanh")}, want: "f32[2]"},
	{op: "Gelu", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"approximate": Int(1)}, want: "error:attribute"},
	{op: "Dropout", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"rate": Float(0.1)}, want: "f32[2]"},
	{op: "Dropout", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"ratio": Float(0.1)}, want: "error:unknown attribute"},
	{op: "Add", inputs: []string{"f32[batch,seq,8]", "bf16[8]"}, want: "f32[batch,seq,8]"},
	{op: "Sub", inputs: []string{"f32[3]", "f32[4]"}, want: "error:broadcast"},
	{op: "Mul", inputs: []string{"f32[batch,1,seq,8]", "f32[batch,4,1,8]"}, want: "f32[batch,4,seq,8]"},
	{op: "Div", inputs: []string{"f32[2]", "f32[]"}, want: "f32[2]"},
	{op: "Pow", inputs: []string{"f32[2]", "f32[]"}, want: "f32[2]"},
	{op: "Max", inputs: []string{"f32[2]", "f32[]"}, want: "f32[2]"},
	{op: "Min", inputs: []string{"f32[2]", "f32[]"}, want: "f32[2]"},
	{op: "ReduceMean", inputs: []string{"f32[batch,seq,8]"}, attrs: map[string]Attr{"axes": Ints(-1)}, want: "f32[batch,seq,1]"},
	{op: "ReduceSum", inputs: []string{"f32[batch,seq,8]"}, attrs: map[string]Attr{"axes": Ints(1, 2), "keepdims": Int(0)}, want: "f32[batch]"},
	{op: "ReduceMax", inputs: []string{"f32[2,3]"}, attrs: map[string]Attr{"axes": Ints(2)}, want: "error:out of range"},
	{op: "ReduceMax", inputs: []string{"f32[2,3]"}, want: "error:missing required attribute"},
	{op: "Softmax", inputs: []string{"f32[batch,4,seq,past+seq]"}, want: "f32[batch,4,seq,past+seq]"},
	{op: "Softmax", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"axis": Int(3)}, want: "error:out of range"},
	{op: "Cast", inputs: []string{"i64[batch,seq]"}, attrs: map[string]Attr{"to": String("f32")}, want: "f32[batch,seq]"},
	{op: "Cast", inputs: []string{"i64[2]"}, attrs: map[string]Attr{"to": String("q4")}, want: "error:unknown dtype"},
	{op: "Constant", attrs: map[string]Attr{"dtype": String("f32"), "shape": Ints(2, 2), "values": Floats(1, 2, 3, 4)}, want: "f32[2,2]"},
	{op: "Constant", attrs: map[string]Attr{"dtype": String("f32"), "shape": Ints(2, 2), "values": Floats(1, 2)}, want: "error:values"},
	{op: "MatMul", inputs: []string{"f32[batch,seq,64]", "bf16[128,64]"}, attrs: map[string]Attr{"transpose_b": Int(1)}, want: "f32[batch,seq,128]"},
	{op: "MatMul", inputs: []string{"f32[batch,seq,64]", "f32[64,128]"}, want: "f32[batch,seq,128]"},
	{op: "MatMul", inputs: []string{"f32[batch,4,seq,16]", "f32[batch,4,16,past+seq]"}, want: "f32[batch,4,seq,past+seq]"},
	{op: "MatMul", inputs: []string{"f32[batch,seq,64]", "f32[128,64]"}, want: "error:inner dims"},
	{op: "MatMul", inputs: []string{"f32[64]", "f32[64,8]"}, want: "f32[8]"},
	{op: "Gather", inputs: []string{"bf16[512,64]", "i64[batch,seq]"}, want: "bf16[batch,seq,64]"},
	{op: "Gather", inputs: []string{"bf16[512,64]", "f32[batch,seq]"}, want: "error:integers"},
	{op: "Reshape", inputs: []string{"f32[batch,seq,64]"}, attrs: map[string]Attr{"shape": Ints(0, 0, 4, 16)}, want: "f32[batch,seq,4,16]"},
	{op: "Reshape", inputs: []string{"f32[batch,seq,4,16]"}, attrs: map[string]Attr{"shape": Ints(0, 0, -1)}, want: "f32[batch,seq,64]"},
	{op: "Reshape", inputs: []string{"f32[batch,seq,64]"}, attrs: map[string]Attr{"shape": Ints(-1, 64)}, want: "error:symbolic"},
	{op: "Reshape", inputs: []string{"f32[6,4]"}, attrs: map[string]Attr{"shape": Ints(5, -1)}, want: "error:cannot reshape"},
	{op: "Transpose", inputs: []string{"f32[batch,seq,4,16]"}, attrs: map[string]Attr{"perm": Ints(0, 2, 1, 3)}, want: "f32[batch,4,seq,16]"},
	{op: "Transpose", inputs: []string{"f32[1,2,3]"}, attrs: map[string]Attr{"perm": Ints(0, 0, 1)}, want: "error:permutation"},
	{op: "Unsqueeze", inputs: []string{"f32[batch,seq]"}, attrs: map[string]Attr{"axes": Ints(1, 3)}, want: "f32[batch,1,seq,1]"},
	{op: "Squeeze", inputs: []string{"f32[batch,1,seq]"}, attrs: map[string]Attr{"axes": Ints(1)}, want: "f32[batch,seq]"},
	{op: "Squeeze", inputs: []string{"f32[batch,2,seq]"}, attrs: map[string]Attr{"axes": Ints(1)}, want: "error:cannot squeeze"},
	{op: "Slice", inputs: []string{"f32[batch,4,seq,16]"}, attrs: map[string]Attr{"axes": Ints(-1), "starts": Ints(8), "ends": Ints(SliceEnd)}, want: "f32[batch,4,seq,8]"},
	{op: "Slice", inputs: []string{"f32[batch,seq,64]"}, attrs: map[string]Attr{"axes": Ints(1), "starts": Ints(-1), "ends": Ints(SliceEnd)}, want: "f32[batch,1,64]"},
	{op: "Slice", inputs: []string{"f32[10]"}, attrs: map[string]Attr{"axes": Ints(0), "starts": Ints(1), "ends": Ints(9), "steps": Ints(3)}, want: "f32[3]"},
	{op: "Slice", inputs: []string{"f32[10]"}, attrs: map[string]Attr{"axes": Ints(0), "starts": Ints(1), "ends": Ints(9), "steps": Ints(0)}, want: "error:positive"},
	{op: "Concat", inputs: []string{"f32[batch,2,past,16]", "f32[batch,2,seq,16]"}, attrs: map[string]Attr{"axis": Int(2)}, want: "f32[batch,2,past+seq,16]"},
	{op: "Concat", inputs: []string{"f32[batch,2,past,16]", "f32[batch,4,seq,16]"}, attrs: map[string]Attr{"axis": Int(2)}, want: "error:dim 1"},
	{op: "Concat", inputs: []string{"f32[2]", "bf16[2]"}, attrs: map[string]Attr{"axis": Int(0)}, want: "error:dtype"},
	{op: "Where", inputs: []string{"bool[batch,1]", "f32[batch,8]", "f32[]"}, want: "f32[batch,8]"},
	{op: "RepeatInterleave", inputs: []string{"f32[batch,2,seq,16]"}, attrs: map[string]Attr{"repeats": Int(3), "axis": Int(1)}, want: "f32[batch,6,seq,16]"},
	{op: "RepeatInterleave", inputs: []string{"f32[2]"}, attrs: map[string]Attr{"repeats": Int(0), "axis": Int(0)}, want: "error:repeats"},
	{op: "AttentionMask", inputs: []string{"i64[batch,past+seq]", "i64[batch,seq]"}, want: "f32[batch,1,seq,past+seq]"},
	{op: "AttentionMask", inputs: []string{"i64[batch]", "i64[batch,seq]"}, want: "error:attention_mask"},
	{op: "RMSNorm", inputs: []string{"f32[batch,seq,64]", "bf16[64]"}, attrs: map[string]Attr{"eps": Float(1e-6)}, want: "f32[batch,seq,64]"},
	{op: "RMSNorm", inputs: []string{"f32[batch,seq,64]", "bf16[32]"}, want: "error:parameter"},
	{op: "LayerNorm", inputs: []string{"f32[batch,seq,64]", "f32[64]", "f32[64]"}, want: "f32[batch,seq,64]"},
	{op: "LayerNorm", inputs: []string{"f32[batch,seq,64]", "f32[64]"}, want: "f32[batch,seq,64]"},
	{op: "RoPE", inputs: []string{"f32[batch,4,seq,32]", "i64[batch,seq]"}, attrs: map[string]Attr{"dims": Int(32)}, want: "f32[batch,4,seq,32]"},
	{op: "RoPE", inputs: []string{"f32[batch,4,seq,32]", "i64[batch,seq]", "f32[8]"}, attrs: map[string]Attr{"dims": Int(16)}, want: "f32[batch,4,seq,32]"},
	{op: "RoPE", inputs: []string{"f32[batch,4,seq,32]", "i64[batch,seq]", "f32[16]"}, attrs: map[string]Attr{"dims": Int(16)}, want: "error:inv_freq"},
	{op: "RoPE", inputs: []string{"f32[batch,4,seq,32]", "i64[batch,seq]"}, attrs: map[string]Attr{"dims": Int(64)}, want: "error:dims"},
	{op: "SDPA", inputs: []string{"f32[batch,4,seq,16]", "f32[batch,2,past+seq,16]", "f32[batch,2,past+seq,16]", "i64[batch,past+seq]"}, attrs: map[string]Attr{"scale": Float(0.25)}, want: "f32[batch,4,seq,16]"},
	{op: "SDPA", inputs: []string{"f32[batch,4,seq,16]", "f32[batch,3,seq,16]", "f32[batch,3,seq,16]"}, attrs: map[string]Attr{"scale": Float(0.25)}, want: "error:multiple"},
	{op: "SDPA", inputs: []string{"f32[batch,4,seq,16]", "f32[batch,4,seq,16]", "f32[batch,4,seq,16]"}, attrs: map[string]Attr{"scale": Float(0.25), "mask": String("window")}, want: "error:mask"},
	{op: "KVCacheAttention", inputs: []string{"f32[batch,4,seq,16]", "f32[batch,2,seq,16]", "f32[batch,2,seq,16]", "i64[batch,past+seq]"}, attrs: map[string]Attr{"scale": Float(0.25), "layer": Int(0)}, want: "f32[batch,4,seq,16]"},
	{op: "SwiGLU", inputs: []string{"f32[batch,seq,128]", "f32[batch,seq,128]"}, want: "f32[batch,seq,128]"},
	{op: "SwiGLU", inputs: []string{"f32[batch,seq,128]", "f32[batch,seq,64]"}, want: "error:differ"},
	{op: "QuantizedMatMul", inputs: []string{"f32[batch,seq,128]", "u32[256,16]", "bf16[256,2]", "bf16[256,2]"}, want: "f32[batch,seq,256]"},
	{op: "QuantizedMatMul", inputs: []string{"f32[batch,seq,128]", "u32[256,12]", "bf16[256,4]", "bf16[256,4]"}, attrs: map[string]Attr{"bits": Int(3), "group_size": Int(32)}, want: "f32[batch,seq,256]"},
	{op: "QuantizedMatMul", inputs: []string{"f32[batch,seq,128]", "u32[256,16]", "bf16[256,2]", "bf16[256,2]"}, attrs: map[string]Attr{"bits": Int(7)}, want: "error:bits"},
	{op: "QuantizedMatMul", inputs: []string{"f32[batch,seq,128]", "u32[256,16]", "bf16[256,3]", "bf16[256,2]"}, want: "error:scales"},
	{op: "QuantizedGather", inputs: []string{"u32[512,8]", "f16[512,1]", "f16[512,1]", "i64[batch,seq]"}, want: "f16[batch,seq,64]"},
	{op: "QuantizedGather", inputs: []string{"u32[512,8]", "bf16[512,1]", "bf16[512,1]", "i64[batch,seq]"}, attrs: map[string]Attr{"dtype": String("f32")}, want: "f32[batch,seq,64]"},
	{op: "QuantizedGather", inputs: []string{"u32[512,8]", "bf16[512,1]", "bf16[512,1]", "i64[batch,seq]"}, attrs: map[string]Attr{"dtype": String("i64")}, want: "error:not a float"},
}

func TestInferNode(t *testing.T) {
	covered := map[string]bool{"If": true} // If is tested with scopes in verify_test.go
	for i, tc := range inferCases {
		covered[tc.op] = true
		n := &Node{Name: "n", Op: tc.op, Attrs: tc.attrs}
		var in []TensorType
		for j, s := range tc.inputs {
			n.Inputs = append(n.Inputs, "v"+string(rune('a'+j)))
			in = append(in, parseType(t, s))
		}
		nout := tc.nout
		if nout == 0 {
			nout = 1
		}
		for j := 0; j < nout; j++ {
			n.Outputs = append(n.Outputs, "out")
		}
		out, err := InferNode(n, in)
		if msg, ok := strings.CutPrefix(tc.want, "error:"); ok {
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("case %d %s%v: got %v, %v; want error containing %q", i, tc.op, tc.inputs, out, err, msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d %s%v: %v", i, tc.op, tc.inputs, err)
			continue
		}
		if got := out[0].String(); got != tc.want {
			t.Errorf("case %d %s%v: got %s, want %s", i, tc.op, tc.inputs, got, tc.want)
		}
	}
	for _, s := range Ops() {
		if !covered[s.Name] {
			t.Errorf("op %s has no inference test case", s.Name)
		}
		if s.Doc == "" {
			t.Errorf("op %s has no Doc", s.Name)
		}
	}
}

func TestUnknownOp(t *testing.T) {
	_, err := InferNode(&Node{Name: "x", Op: "FlashAttention9"}, nil)
	if err == nil || !strings.Contains(err.Error(), "unknown op") {
		t.Fatalf("got %v", err)
	}
}

func TestSliceDim(t *testing.T) {
	tests := []struct {
		d                Dim
		start, end, step int64
		want             string
	}{
		{D(10), 0, 5, 1, "5"},
		{D(10), -3, SliceEnd, 1, "3"},
		{D(10), 8, 2, 1, "0"},
		{D(10), 0, SliceEnd, 4, "3"},
		{S("seq"), 0, SliceEnd, 1, "seq"},
		{S("past+seq"), 1, SliceEnd, 1, "?"},
		{S("past+4"), 1, SliceEnd, 1, "past+3"},
		{S("seq"), -1, SliceEnd, 1, "1"},
		{S("seq"), 0, 4, 1, "?"},
	}
	for _, tt := range tests {
		if got := SliceDim(tt.d, tt.start, tt.end, tt.step); got.String() != tt.want {
			t.Errorf("SliceDim(%s,%d,%d,%d)=%s want %s", tt.d, tt.start, tt.end, tt.step, got, tt.want)
		}
	}
}
