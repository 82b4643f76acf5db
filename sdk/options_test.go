package sdk

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

type testOpts struct {
	Bits   int      `json:"bits" doc:"bits per weight" enum:"2,4,8"`
	Group  int      `json:"group_size" min:"32"`
	Skip   []string `json:"skip" doc:"names to skip"`
	Ratio  float64  `json:"ratio"`
	On     bool     `json:"on"`
	Mode   string   `json:"mode" enum:"fast,exact"`
	Hidden int      `json:"-"`
	Nested struct {
		Depth uint8 `json:"depth"`
	} `json:"nested"`
}

func TestDecodeOptions(t *testing.T) {
	def := &testOpts{Bits: 4, Group: 64, Mode: "fast", Hidden: 7}
	tests := []struct {
		js   string
		want func(o *testOpts)
		err  string
	}{
		{"", func(o *testOpts) {}, ""},
		{`{}`, func(o *testOpts) {}, ""},
		{`{"bits": 8, "skip": ["lm_head", "embed"], "ratio": 0.5, "on": true, "mode": "exact", "nested": {"depth": 3}}`, func(o *testOpts) {
			o.Bits, o.Skip, o.Ratio, o.On, o.Mode, o.Nested.Depth = 8, []string{"lm_head", "embed"}, 0.5, true, "exact", 3
		}, ""},
		{`{"bits": null}`, func(o *testOpts) {}, ""},
		{`{"bits": 8.0}`, func(o *testOpts) { o.Bits = 8 }, ""},
		{`{"bits": 3}`, nil, `option "bits": 3 is not one of 2, 4, 8`},
		{`{"bits": 4.5}`, nil, `option "bits": want an integer, got 4.5`},
		{`{"bits": "4"}`, nil, `option "bits": want an integer, got string`},
		{`{"group_size": 16}`, nil, `option "group_size": 16 is below the minimum 32`},
		{`{"mode": "slow"}`, nil, `option "mode": slow is not one of fast, exact`},
		{`{"skip": "lm_head"}`, nil, `option "skip": want an array, got string`},
		{`{"skip": [1]}`, nil, `option "skip[0]": want a string, got number`},
		{`{"nested": {"depth": 300}}`, nil, `option "nested.depth": 300 is out of range`},
		{`{"nested": {"width": 1}}`, nil, `unknown option "nested.width" (known: nested.depth)`},
		{`{"Hidden": 1}`, nil, `unknown option "Hidden" (known: bits, group_size, skip, ratio, on, mode, nested)`},
		{`[1]`, nil, "options must be a JSON object, got array"},
		{`{"bits": 4,}`, nil, "options are not valid JSON"},
		{`{"bits": 4, "bits": 8}`, nil, `duplicate key "bits"`},
	}
	for _, tc := range tests {
		got, err := DecodeOptions(def, tc.js)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.js, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.js, err)
			continue
		}
		want := *def
		tc.want(&want)
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s: got %+v, want %+v", tc.js, got, &want)
		}
	}
	if def.Bits != 4 || def.Skip != nil {
		t.Errorf("defaults modified: %+v", def)
	}
	if _, err := DecodeOptions(nil, `{"x": 1}`); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("options for an option-less pass: err = %v", err)
	}
}

func TestOptionsSchemaIsValidJSONAndRoundTrips(t *testing.T) {
	def := &testOpts{Bits: 4, Group: 64, Mode: "fast", Skip: []string{"a\"b"}}
	s := OptionsSchema(def)
	var schema map[string]any
	if err := json.Unmarshal([]byte(s), &schema); err != nil {
		t.Fatalf("schema is not JSON: %v\n%s", err, s)
	}
	props := schema["properties"].(map[string]any)
	bits := props["bits"].(map[string]any)
	if bits["type"] != "integer" || bits["default"] != 4.0 || bits["description"] != "bits per weight" || len(bits["enum"].([]any)) != 3 {
		t.Errorf("bits schema = %v", bits)
	}
	if _, ok := props["-"]; ok {
		t.Errorf("hidden field in schema")
	}
	if props["nested"].(map[string]any)["type"] != "object" {
		t.Errorf("nested schema = %v", props["nested"])
	}
	if OptionsSchema(def) != s {
		t.Errorf("schema not deterministic")
	}
	back, err := DecodeOptions(&testOpts{}, EncodeOptions(def))
	if err != nil || !reflect.DeepEqual(back, def) {
		t.Errorf("EncodeOptions round trip: %+v, %v; want %+v", back, err, def)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(OptionsSchema(nil)), &v); err != nil {
		t.Errorf("nil schema: %v", err)
	}
}

// FuzzParseJSON checks the option parser against encoding/json: it must
// never panic, and must accept exactly what encoding/json accepts (up to
// duplicate keys, which it rejects, and the nesting limit).
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5e-3,-0,"x\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}}`, `[`, `"\x"`, `1e`, `01`, `{"a":1}x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseJSON(s)
		ok := json.Valid([]byte(s))
		if err == nil && !ok {
			t.Fatalf("parseJSON accepted invalid JSON %q", s)
		}
		if err != nil && ok && !strings.Contains(err.Error(), "duplicate key") && !strings.Contains(err.Error(), "nested deeper") {
			t.Fatalf("parseJSON rejected valid JSON %q: %v", s, err)
		}
		if v != nil && v.kind == jsonString {
			var want string
			if json.Unmarshal([]byte(s), &want) == nil && want != v.text && !strings.ContainsRune(want, '\uFFFD') {
				t.Fatalf("string %q decoded to %q, want %q", s, v.text, want)
			}
		}
	})
}

func TestHalfConversions(t *testing.T) {
	for _, f := range []float32{0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08, 0.1, 3.14159} {
		h := Float32ToHalf(f)
		back := HalfToFloat32(h)
		if math.Abs(float64(back-f)) > math.Abs(float64(f))*1e-3+6e-8 {
			t.Errorf("f16(%v) = %#04x -> %v", f, h, back)
		}
	}
	// Every half value round-trips exactly.
	for h := 0; h < 1<<16; h++ {
		f := HalfToFloat32(uint16(h))
		if f != f { // NaN
			continue
		}
		if got := Float32ToHalf(f); got != uint16(h) {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, got)
		}
	}
	for b := 0; b < 1<<16; b++ {
		f := math.Float32frombits(uint32(b) << 16)
		if f != f {
			continue
		}
		if got := Float32ToBF16(f); got != uint16(b) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", b, f, got)
		}
	}
	vals := []float64{1, -2, 0.5}
	for _, dt := range []graph.DType{graph.F32, graph.F64, graph.F16, graph.BF16, graph.I64, graph.I32, graph.I8, graph.U8, graph.U32} {
		in := vals
		if dt == graph.U8 || dt == graph.U32 {
			in = []float64{1, 2, 0}
		} else if !dt.IsFloat() {
			in = []float64{1, -2, 0}
		}
		got, ok := DecodeValues(dt, EncodeValues(dt, in))
		if !ok || !reflect.DeepEqual(got, in) {
			t.Errorf("%s round trip: %v -> %v", dt, in, got)
		}
	}
}
