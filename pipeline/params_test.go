package pipeline

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/generate"
	"github.com/graphpass/graphpass/generate/sample"
)

// TestParams: the model's generation_config.json (the bundled model
// samples at temperature 0.8, top-p 0.95, EOS 0) unless the spec
// overrides it.
func TestParams(t *testing.T) {
	dir := filepath.Join("..", "models", "kjv-fortunes-7m")
	tests := []struct {
		name, yaml string
		want       generate.Params
	}{
		{"generation config", "generate: {max_new_tokens: 5}", generate.Params{MaxNewTokens: 5, EOS: []int32{0},
			Sampling: sample.Params{Temperature: 0.8, TopK: 50, TopP: 0.95}}},
		{"greedy", "generate: {sampling: {do_sample: false}, ignore_eos: true}", generate.Params{MaxNewTokens: DefaultMaxNewTokens, EOS: []int32{0}, IgnoreEOS: true}},
		{"overrides", "generate: {sampling: {temperature: 0.5, top_k: 3, top_p: 0.5, min_p: 0.1, repetition_penalty: 1.2, seed: 9}}",
			generate.Params{MaxNewTokens: DefaultMaxNewTokens, EOS: []int32{0}, Seed: 9,
				Sampling: sample.Params{Temperature: 0.5, TopK: 3, TopP: 0.5, MinP: 0.1, RepetitionPenalty: 1.2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Prepared{Spec: specFor(t, tt.yaml), ModelDir: dir}
			got, err := p.Params()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// A fixture without EOS in its generation config stops only at the
	// token budget (the fixtures' references decode without EOS).
	p := &Prepared{Spec: specFor(t, "{}"), ModelDir: filepath.Join("..", "testdata", "fixtures", "qwen3-tiny")}
	got, err := p.Params()
	if err != nil || len(got.EOS) != 0 || got.Sampling.Temperature != 0 {
		t.Fatalf("qwen3-tiny params %+v, %v", got, err)
	}
	// Asking to sample a greedy model: transformers' defaults.
	p.Spec = specFor(t, "generate: {sampling: {do_sample: true}}")
	if got, err = p.Params(); err != nil || got.Sampling != (sample.Params{Temperature: 1, TopK: 50}) {
		t.Fatalf("do_sample on a greedy model: %+v, %v", got.Sampling, err)
	}
}

func TestPrompts(t *testing.T) {
	dir := filepath.Join("..", "models", "kjv-fortunes-7m")
	tok, err := loadTokenizer(dir)
	if err != nil || tok == nil {
		t.Fatalf("tokenizer %v %v", tok, err)
	}
	p := &Prepared{Spec: specFor(t, `generate: {prompt: "In the beginning"}`), ModelDir: dir}
	ids, text, err := p.Prompts(tok)
	if err != nil || !reflect.DeepEqual(ids, [][]int32{{1088, 262, 2401}}) || text != "In the beginning" {
		t.Fatalf("prompt: %v %q %v", ids, text, err)
	}
	// Chat: the model's ChatML template, special tokens written by the
	// template (not added again).
	p.Spec = specFor(t, `generate: {prompt: "Hi", chat: true, system: "Be brief."}`)
	ids, text, err = p.Prompts(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"; text != want {
		t.Fatalf("chat text %q, want %q", text, want)
	}
	if first, _ := tok.TokenID("<|im_start|>"); ids[0][0] != first {
		t.Fatalf("chat ids start %v", ids[0][:3])
	}
	// No prompt, no ids; no tokenizer for a prompt.
	p.Spec = specFor(t, "{}")
	if _, _, err := p.Prompts(tok); !errors.Is(err, ErrNoPrompt) {
		t.Fatalf("err = %v", err)
	}
	p.Spec = specFor(t, `generate: {prompt: "x"}`)
	if _, _, err := p.Prompts(nil); err == nil || !strings.Contains(err.Error(), "has no tokenizer.json: give token ids") {
		t.Fatalf("err = %v", err)
	}
}
