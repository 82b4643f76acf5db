package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

func TestLoadConfigFixtures(t *testing.T) {
	tests := []struct {
		dir   string
		check func(t *testing.T, c *Config)
	}{
		{"qwen3-tiny", func(t *testing.T, c *Config) {
			want := Config{Architecture: "Qwen3ForCausalLM", ModelType: "qwen3", Family: Qwen3, VocabSize: 512, HiddenSize: 64,
				IntermediateSize: 128, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 32, MaxPositions: 512}
			checkDims(t, c, want)
			if !c.TieWordEmbeddings || !c.QKNorm || c.QKVBias || c.DType != graph.BF16 || c.NormEps != 1e-6 {
				t.Errorf("flags: %+v", c)
			}
			if c.Rope.Theta != 1e6 || c.Rope.Type != "default" || c.SlidingWindowOf(0) != 0 || c.Quantization != nil {
				t.Errorf("rope %+v, window %d", c.Rope, c.SlidingWindowOf(0))
			}
			if len(c.EOSTokenIDs) != 0 || c.BOSTokenID != nil {
				t.Errorf("eos %v bos %v", c.EOSTokenIDs, c.BOSTokenID)
			}
		}},
		{"llama-tiny-llama3rope", func(t *testing.T, c *Config) {
			checkDims(t, c, Config{Family: Llama, VocabSize: 512, HiddenSize: 96, IntermediateSize: 192, NumLayers: 2,
				NumHeads: 6, NumKVHeads: 2, HeadDim: 16, MaxPositions: 512})
			r := c.Rope
			if r.Type != "llama3" || r.Theta != 500000 || r.Factor != 8 || r.LowFreqFactor != 1 || r.HighFreqFactor != 4 || r.OriginalMaxPositions != 32 {
				t.Errorf("rope %+v", r)
			}
			if c.TieWordEmbeddings || c.DType != graph.F16 || c.NormEps != 1e-5 {
				t.Errorf("flags %+v", c)
			}
			if len(c.EOSTokenIDs) != 1 || c.EOSTokenIDs[0] != 2 || *c.BOSTokenID != 1 {
				t.Errorf("eos %v bos %v", c.EOSTokenIDs, c.BOSTokenID)
			}
		}},
		{"qwen3-tiny-mlx4bit", func(t *testing.T, c *Config) {
			if q := c.Quantization; q == nil || q.Bits != 4 || q.GroupSize != 64 || len(q.Modules) != 0 {
				t.Errorf("quantization %+v", c.Quantization)
			}
		}},
		{"mistral-tiny-swa", func(t *testing.T, c *Config) {
			checkDims(t, c, Config{Family: Mistral, NumHeads: 4, NumKVHeads: 1, HeadDim: 16})
			if c.SlidingWindow != 4 || c.SlidingWindowOf(0) != 4 || c.SlidingWindowOf(1) != 4 {
				t.Errorf("sliding window %d, layer types %v", c.SlidingWindow, c.LayerTypes)
			}
		}},
		{"qwen2-tiny", func(t *testing.T, c *Config) {
			checkDims(t, c, Config{Family: Qwen2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16, IntermediateSize: 160})
			if !c.QKVBias || c.AttentionBias || c.TieWordEmbeddings || c.SlidingWindowOf(1) != 0 || c.Rope.Theta != 1e6 {
				t.Errorf("flags %+v", c)
			}
		}},
		{"gpt2-tiny", func(t *testing.T, c *Config) {
			checkDims(t, c, Config{Family: GPT2, VocabSize: 512, HiddenSize: 64, IntermediateSize: 256, NumLayers: 2,
				NumHeads: 4, NumKVHeads: 4, HeadDim: 16, MaxPositions: 64})
			if c.HiddenAct != "gelu_new" || c.AttentionDropout != 0.1 || c.ResidDropout != 0.1 || c.EmbdDropout != 0.1 ||
				!c.ScaleAttnWeights || !c.TieWordEmbeddings || c.NormEps != 1e-5 {
				t.Errorf("flags %+v", c)
			}
		}},
		{"llama-tiny-mha", func(t *testing.T, c *Config) {
			if !c.AttentionBias || !c.MLPBias || c.NumHeads != c.NumKVHeads || c.Rope.Type != "default" {
				t.Errorf("flags %+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			c, err := LoadConfig("../testdata/fixtures/" + tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// checkDims compares the nonzero dims of want.
func checkDims(t *testing.T, c *Config, want Config) {
	t.Helper()
	pairs := []struct {
		name      string
		got, want int
	}{
		{"vocab", c.VocabSize, want.VocabSize}, {"hidden", c.HiddenSize, want.HiddenSize},
		{"intermediate", c.IntermediateSize, want.IntermediateSize}, {"layers", c.NumLayers, want.NumLayers},
		{"heads", c.NumHeads, want.NumHeads}, {"kv heads", c.NumKVHeads, want.NumKVHeads},
		{"head dim", c.HeadDim, want.HeadDim}, {"max positions", c.MaxPositions, want.MaxPositions},
	}
	for _, p := range pairs {
		if p.want != 0 && p.got != p.want {
			t.Errorf("%s = %d, want %d", p.name, p.got, p.want)
		}
	}
	if want.Family != "" && c.Family != want.Family {
		t.Errorf("family %s, want %s", c.Family, want.Family)
	}
}

// base is a valid Llama config.json to mutate.
func base() map[string]any {
	return map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
	}
}

func parse(t *testing.T, m map[string]any, opts LoadOptions) (*Config, error) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(data, opts)
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(m map[string]any)
		want        []string // every fragment must appear
		unsupported bool
	}{
		{"missing hidden_size", func(m map[string]any) { delete(m, "hidden_size") }, []string{`missing config field "hidden_size"`}, false},
		{"several missing", func(m map[string]any) { delete(m, "hidden_size"); delete(m, "vocab_size") },
			[]string{`"hidden_size"`, `"vocab_size"`, "2 problems"}, false},
		{"string for int", func(m map[string]any) { m["num_hidden_layers"] = "two" }, []string{`"num_hidden_layers" must be an integer`}, false},
		{"fractional int", func(m map[string]any) { m["num_hidden_layers"] = 2.5 }, []string{`"num_hidden_layers" must be an integer`}, false},
		{"unsupported architecture", func(m map[string]any) { m["architectures"] = []string{"GemmaForCausalLM"} },
			[]string{`unsupported architecture "GemmaForCausalLM"`, "LlamaForCausalLM"}, true},
		{"unknown model_type only", func(m map[string]any) { delete(m, "architectures"); m["model_type"] = "phi" }, []string{`model_type "phi"`}, true},
		{"no architecture at all", func(m map[string]any) { delete(m, "architectures"); delete(m, "model_type") }, []string{`missing config field "architectures"`}, false},
		{"yarn", func(m map[string]any) { m["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0} },
			[]string{`rope_type "yarn"`}, true},
		{"yarn in rope_parameters", func(m map[string]any) {
			m["rope_parameters"] = map[string]any{"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}
		}, []string{`rope_parameters rope_type "yarn"`}, true},
		{"llama3 without factors", func(m map[string]any) { m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": 8.0} },
			[]string{`missing config field "original_max_position_embeddings"`}, false},
		{"hidden_act", func(m map[string]any) { m["hidden_act"] = "gelu" }, []string{`hidden_act "gelu"`}, true},
		{"softcapping", func(m map[string]any) { m["final_logit_softcapping"] = 30.0 }, []string{`"final_logit_softcapping"`}, true},
		{"partial rotary", func(m map[string]any) { m["partial_rotary_factor"] = 0.5 }, []string{`"partial_rotary_factor"`}, true},
		{"heads not multiple", func(m map[string]any) { m["num_key_value_heads"] = 3 }, []string{"not a multiple of num_key_value_heads 3"}, false},
		{"zero layers", func(m map[string]any) { m["num_hidden_layers"] = 0 }, []string{"num_hidden_layers must be positive"}, false},
		{"odd head dim", func(m map[string]any) { m["head_dim"] = 7 }, []string{"head_dim 7 must be even"}, false},
		{"layer_types length", func(m map[string]any) { m["layer_types"] = []string{"full_attention"} }, []string{`"layer_types" has 1 entries for 2 layers`}, false},
		{"layer type unknown", func(m map[string]any) { m["layer_types"] = []string{"full_attention", "chunked_attention"} },
			[]string{`layer type "chunked_attention" (layer_types[1])`}, true},
		{"sliding without window", func(m map[string]any) { m["layer_types"] = []string{"sliding_attention", "full_attention"} },
			[]string{"layer 0 is a sliding-attention layer but sliding_window is not set"}, false},
		{"dtype", func(m map[string]any) { m["dtype"] = "float8" }, []string{`dtype "float8"`}, true},
		{"quant bits", func(m map[string]any) { m["quantization"] = map[string]any{"bits": 7, "group_size": 64} }, []string{"bits 7"}, true},
		{"quant group", func(m map[string]any) { m["quantization"] = map[string]any{"bits": 4, "group_size": 48} }, []string{"group_size 48"}, true},
		{"quant method", func(m map[string]any) { m["quantization_config"] = map[string]any{"quant_method": "gptq", "bits": 4} },
			[]string{`quant_method "gptq"`}, true},
		{"quant mode", func(m map[string]any) {
			m["quantization"] = map[string]any{"bits": 4, "group_size": 32, "mode": "mxfp4"}
		}, []string{`mode "mxfp4"`}, true},
		{"quant override", func(m map[string]any) {
			m["quantization"] = map[string]any{"bits": 4, "group_size": 64, "model.layers.0.mlp.down_proj": "eight"}
		}, []string{`must be false or {bits, group_size}`}, false},
		{"eos type", func(m map[string]any) { m["eos_token_id"] = "two" }, []string{`"eos_token_id" must be a token id`}, false},
		{"dropout range", func(m map[string]any) { m["attention_dropout"] = 1.5 }, []string{"attention dropout must be in [0, 1)"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.mutate(m)
			_, err := parse(t, m, LoadOptions{})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
				t.Errorf("errors.Is(err, ErrUnsupported) = %v, want %v (%v)", got, tc.unsupported, err)
			}
		})
	}
}

func TestParseConfigNotJSON(t *testing.T) {
	for _, data := range []string{"", "{", "null", "[1,2]", "\x00\x01"} {
		if _, err := ParseConfig([]byte(data), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
			t.Errorf("%q: err = %v", data, err)
		}
	}
}

func TestAllowUnknownRopeScaling(t *testing.T) {
	m := base()
	m["rope_scaling"] = map[string]any{"rope_type": "yarn", "factor": 4.0}
	c, err := parse(t, m, LoadOptions{AllowUnknownRopeScaling: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rope.Type != "yarn" {
		t.Errorf("rope type %q", c.Rope.Type)
	}
	g, err := BuildGraph(c, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Metadata[graph.MetaRopeType] != "yarn" {
		t.Errorf("metadata rope_type %q", g.Metadata[graph.MetaRopeType])
	}
	// Built unscaled: the default frequencies.
	want := InvFreq(RopeConfig{Theta: 10000, Type: "default"}, c.HeadDim)
	got := g.Initializer("model.rotary_emb.inv_freq")
	if got == nil || len(got.Data) != 4*len(want) {
		t.Fatalf("inv_freq %+v", got)
	}
}

func TestRopeStylesAgree(t *testing.T) {
	old := base()
	old["rope_theta"] = 500000.0
	old["rope_scaling"] = map[string]any{"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
	newer := base()
	delete(newer, "rope_theta")
	newer["rope_parameters"] = map[string]any{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
	a, err := parse(t, old, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := parse(t, newer, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Rope != b.Rope {
		t.Errorf("rope_scaling style %+v != rope_parameters style %+v", a.Rope, b.Rope)
	}
}

func TestQuantizationOverrides(t *testing.T) {
	m := base()
	m["quantization"] = map[string]any{"bits": 4, "group_size": 64,
		"model.layers.0.mlp.down_proj": map[string]any{"bits": 8, "group_size": 32},
		"model.embed_tokens":           false,
		"lm_head":                      true}
	c, err := parse(t, m, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q := c.Quantization
	tests := []struct {
		module string
		want   QuantParams
		ok     bool
	}{
		{"model.layers.0.mlp.down_proj", QuantParams{8, 32}, true},
		{"model.embed_tokens", QuantParams{}, false},
		{"lm_head", QuantParams{4, 64}, true},
		{"model.layers.1.mlp.down_proj", QuantParams{4, 64}, true},
	}
	for _, tc := range tests {
		if p, ok := q.For(tc.module); p != tc.want || ok != tc.ok {
			t.Errorf("For(%q) = %+v %v, want %+v %v", tc.module, p, ok, tc.want, tc.ok)
		}
	}
}

func TestGenerationConfigWins(t *testing.T) {
	c, err := LoadConfig("../models/kjv-fortunes-7m")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EOSTokenIDs) != 1 || c.EOSTokenIDs[0] != 0 || c.PadTokenID == nil || *c.PadTokenID != 0 {
		t.Errorf("eos %v pad %v", c.EOSTokenIDs, c.PadTokenID)
	}
	if err := c.applyGenerationConfig([]byte(`{"eos_token_id": [7, 9]}`)); err != nil {
		t.Fatal(err)
	}
	if len(c.EOSTokenIDs) != 2 || c.EOSTokenIDs[1] != 9 {
		t.Errorf("eos %v", c.EOSTokenIDs)
	}
	if err := c.applyGenerationConfig([]byte(`{"eos_token_id": "x"}`)); err == nil {
		t.Error("bad generation config accepted")
	}
}

// TestInvFreq checks the frequencies against transformers' formulas
// evaluated in float64: default base^(-2k/d); llama3 keeps high
// frequencies, divides low ones by the factor and blends the band between.
func TestInvFreq(t *testing.T) {
	const d = 64
	def := InvFreq(RopeConfig{Theta: 500000, Type: "default"}, d)
	for k, f := range def {
		want := math.Pow(500000, -float64(2*k)/d)
		if math.Abs(float64(f)-want)/want > 1e-6 {
			t.Errorf("default inv_freq[%d] = %g, want %g", k, f, want)
		}
	}
	r := RopeConfig{Theta: 500000, Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
	l3 := InvFreq(r, d)
	low, high := 8192/1.0, 8192/4.0
	var sawLow, sawHigh, sawMid bool
	for k := range l3 {
		inv := float64(def[k])
		wl := 2 * math.Pi / inv
		var want float64
		switch {
		case wl < high:
			want, sawHigh = inv, true
		case wl > low:
			want, sawLow = inv/8, true
		default:
			s := (8192/wl - 1) / (4 - 1)
			want, sawMid = (1-s)*inv/8+s*inv, true
		}
		if math.Abs(float64(l3[k])-want)/want > 1e-5 {
			t.Errorf("llama3 inv_freq[%d] = %g, want %g", k, l3[k], want)
		}
	}
	if !sawLow || !sawHigh || !sawMid {
		t.Errorf("test does not cover every band: low %v high %v mid %v", sawLow, sawHigh, sawMid)
	}
	lin := InvFreq(RopeConfig{Theta: 10000, Type: "linear", Factor: 4}, 16)
	for k, f := range lin {
		want := math.Pow(10000, -float64(2*k)/16) / 4
		if math.Abs(float64(f)-want)/want > 1e-6 {
			t.Errorf("linear inv_freq[%d] = %g, want %g", k, f, want)
		}
	}
}

// FuzzParseConfig: no input panics, and an accepted config builds a graph
// that verifies (or is refused with an error).
func FuzzParseConfig(f *testing.F) {
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-mlx4bit", "llama-tiny-llama3rope", "gpt2-tiny", "mistral-tiny-swa", "qwen2-tiny"} {
		if b, err := os.ReadFile("../testdata/fixtures/" + fx + "/config.json"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"vocab_size":4,"hidden_size":4,"intermediate_size":4,"num_hidden_layers":1,"num_attention_heads":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, LoadOptions{AllowUnknownRopeScaling: true})
		if err != nil {
			return
		}
		if c.NumParams() > 1e8 || c.NumLayers > 64 {
			return // too large to build quickly
		}
		if _, err := BuildGraph(c, BuildOptions{MergedDecoder: true}); err != nil && strings.Contains(err.Error(), "a bug") {
			t.Fatalf("accepted config builds an invalid graph: %v", err)
		}
	})
}
