package chat

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

var modelDirs = map[string]string{
	"qwen3":           "../testdata/fixtures/tokenizers/qwen3",
	"llama3":          "../testdata/fixtures/tokenizers/llama3",
	"kjv-fortunes-7m": "../models/kjv-fortunes-7m",
	"spm-bpe":         "../tokenizer/testdata/spm-bpe",
}

// TestGolden renders the cases of testdata/golden.json, whose expected
// text comes from @huggingface/jinja (see tokenizer/testdata/gen).
func TestGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string][]json.RawMessage
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden["qwen3"]) < 10 {
		t.Fatalf("golden.json has %d qwen3 cases", len(golden["qwen3"]))
	}
	for name, cases := range golden {
		tpl, err := Load(modelDirs[name])
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range cases {
			var c struct {
				Name                string         `json:"name"`
				AddGenerationPrompt bool           `json:"add_generation_prompt"`
				Vars                map[string]any `json:"vars"`
				Text                *string        `json:"text"`
				Error               string         `json:"error"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			conv, err := ParseConversation(raw) // the case object has "messages" and "tools"
			if err != nil {
				t.Fatal(err)
			}
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				got, err := tpl.Render(conv.Messages, Options{AddGenerationPrompt: c.AddGenerationPrompt, Tools: conv.Tools, Vars: c.Vars})
				if c.Text == nil {
					if err == nil || !strings.Contains(err.Error(), c.Error) {
						t.Fatalf("Render = %q, %v; want error %q", got, err, c.Error)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got != *c.Text {
					t.Errorf("Render\n got %q\nwant %q", got, *c.Text)
				}
			})
		}
	}
}
