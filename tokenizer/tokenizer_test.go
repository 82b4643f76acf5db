package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

const fixtures = "../testdata/fixtures/tokenizers"

var (
	loadMu    sync.Mutex
	loadCache = map[string]*Tokenizer{}
)

// load loads a tokenizer once per test binary.
func load(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	if tk, ok := loadCache[dir]; ok {
		return tk
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	loadCache[dir] = tk
	return tk
}

type refCase struct {
	Text    string  `json:"text"`
	IDs     []int32 `json:"ids"`
	Decoded string  `json:"decoded"`
}

// TestFixtureReference checks the real Qwen3 and Llama 3 tokenizers against
// ids and text from the Rust tokenizers library (add_special_tokens=False).
func TestFixtureReference(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string][]refCase
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"qwen3", "llama3"} {
		if len(ref[name]) == 0 {
			t.Fatalf("reference.json has no %s cases", name)
		}
		tk := load(t, filepath.Join(fixtures, name))
		for _, c := range ref[name] {
			t.Run(name+"/"+c.Text, func(t *testing.T) {
				checkCase(t, tk, c)
			})
		}
	}
}

func checkCase(t *testing.T, tk *Tokenizer, c refCase) {
	t.Helper()
	got := tk.Encode(c.Text, false)
	if len(got) == 0 && len(c.IDs) == 0 {
		got = c.IDs
	}
	if !reflect.DeepEqual(got, c.IDs) {
		t.Errorf("Encode(%q)\n got %v %q\nwant %v", c.Text, got, tk.tokensOf(got), c.IDs)
	}
	if dec := tk.Decode(c.IDs, DecodeOptions{}); dec != c.Decoded {
		t.Errorf("Decode(%v) = %q, want %q", c.IDs, dec, c.Decoded)
	}
}

func (t *Tokenizer) tokensOf(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = t.Token(id)
	}
	return out
}

// TestBundledModelPrompts checks the bundled model's tokenizer against the
// prompt ids transformers produced for its reference generations.
func TestBundledModelPrompts(t *testing.T) {
	dir := "../models/kjv-fortunes-7m"
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Prompt    string  `json:"prompt"`
			PromptIDs []int32 `json:"prompt_ids"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no cases")
	}
	tk := load(t, dir)
	for _, c := range ref.Cases {
		// transformers' tokenizer(prompt) uses add_special_tokens=True.
		if got := tk.Encode(c.Prompt, true); !reflect.DeepEqual(got, c.PromptIDs) {
			t.Errorf("Encode(%q) = %v, want %v", c.Prompt, got, c.PromptIDs)
		}
		if got := tk.Decode(c.PromptIDs, DecodeOptions{}); got != c.Prompt {
			t.Errorf("Decode(%v) = %q, want %q", c.PromptIDs, got, c.Prompt)
		}
	}
}
