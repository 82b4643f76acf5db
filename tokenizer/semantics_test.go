package tokenizer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// tinyTokenizer builds a byte-level BPE tokenizer.json in the GPT-2 style
// with the given added tokens, for tests of behaviour the fixtures do not
// reach. Its vocabulary is the 256 byte symbols plus "Ġw", "or", "ld",
// "Ġworld" (merges in that order).
func tinyTokenizer(t *testing.T, added []AddedToken, extra map[string]any) *Tokenizer {
	t.Helper()
	vocab := map[string]int32{}
	for b := 0; b < 256; b++ {
		vocab[byteRuneStr[b]] = int32(b)
	}
	for i, s := range []string{"Ġw", "or", "ld", "Ġwor", "Ġworld"} {
		vocab[s] = int32(256 + i)
	}
	doc := map[string]any{
		"added_tokens":  added,
		"normalizer":    nil,
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"decoder":       map[string]any{"type": "ByteLevel"},
		"model": map[string]any{
			"type": "BPE", "vocab": vocab,
			"merges": []string{"Ġ w", "o r", "l d", "Ġw or", "Ġwor ld"},
		},
	}
	for k, v := range extra {
		doc[k] = v
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := New(b, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestAddedTokenFlags checks lstrip, rstrip, single_word and
// normalized=false against HF tokenizers' AddedVocabulary rules.
func TestAddedTokenFlags(t *testing.T) {
	tk := tinyTokenizer(t, []AddedToken{
		{ID: 300, Content: "<L>", LStrip: true, Special: true},
		{ID: 301, Content: "<R>", RStrip: true, Special: true},
		{ID: 302, Content: "cat", SingleWord: true},
		{ID: 303, Content: "<x>", Special: true},
		{ID: 304, Content: "<x><y>", Special: true},
	}, nil)
	// Single bytes have their byte value as id (' ' is 32).
	tests := []struct {
		in   string
		want []int32
	}{
		{"a  <L>b", []int32{'a', 300, 'b'}},                 // lstrip takes the spaces before
		{"a<R>  b", []int32{'a', 301, 'b'}},                 // rstrip the spaces after
		{"a <x> b", []int32{'a', ' ', 303, ' ', 'b'}},       // neither: the spaces stay
		{"cat cats", []int32{302, ' ', 'c', 'a', 't', 's'}}, // single_word: not inside "cats"
		{"<x><y><x>", []int32{304, 303}},                    // leftmost-longest
		{" world", []int32{260}},
	}
	for _, tt := range tests {
		if got := tk.Encode(tt.in, false); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Encode(%q) = %v %q, want %v", tt.in, got, tk.tokensOf(got), tt.want)
		}
	}
	// Decode keeps added tokens verbatim; skipping drops only special ones.
	if got := tk.Decode([]int32{'a', 303, 302}, DecodeOptions{SkipSpecial: true}); got != "acat" {
		t.Errorf("Decode skip special = %q", got)
	}
}

func TestLossyUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence: one maximal subpart
		{"\xe2\x82\xacx", "€x"},                // complete
		{"\xff\xfe", "\uFFFD\uFFFD"},           // two invalid bytes
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // a surrogate: ED is not followed by A0
		{"\xf0\x9f\x98", "\uFFFD"},
		{"a\xc3", "a\uFFFD"},
		{"\xef\xbb\xbfbom", "\ufeffbom"}, // a BOM is kept
	}
	for _, tt := range tests {
		if got := lossyUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIncompleteTail(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"abc", 0}, {"a\xe2", 1}, {"a\xe2\x82", 2}, {"\xf0\x9f\x98", 3}, {"€", 0},
		{"\xe2(", 0}, {"\xff", 0}, {"\xc3", 1}, {"\xed\xa0", 0},
	}
	for _, tt := range tests {
		if got := incompleteTail(tt.in); got != tt.want {
			t.Errorf("incompleteTail(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestDecodeInvalidBytes: byte-level tokens that do not form UTF-8 decode
// with one U+FFFD per maximal subpart (ByteLevel) or per byte
// (ByteFallback), as the Rust decoders do.
func TestDecodeInvalidBytes(t *testing.T) {
	q := load(t, filepath.Join(fixtures, "qwen3"))
	// The first two bytes of "€" (E2 82), then "x".
	e2, _ := q.TokenID(byteRuneStr[0xe2])
	x82, _ := q.TokenID(byteRuneStr[0x82])
	x, _ := q.TokenID("x")
	if got := q.Decode([]int32{e2, x82, x}, DecodeOptions{}); got != "\uFFFDx" {
		t.Errorf("byte-level = %q", got)
	}
	s := load(t, "testdata/spm-bpe")
	b1, _ := s.TokenID("<0xE2>")
	b2, _ := s.TokenID("<0x82>")
	if got := s.Decode([]int32{b1, b2}, DecodeOptions{}); got != "\uFFFD\uFFFD" {
		t.Errorf("byte fallback = %q", got)
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	tk := load(t, "../models/kjv-fortunes-7m")
	in := "ab\xffc\xe2\x82d"
	want := tk.Encode("ab\uFFFDc\uFFFDd", false)
	if got := tk.Encode(in, false); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", in, got, want)
	}
}

// TestRoundTrip: byte-level tokenizers without a normalizer give back any
// valid text exactly.
func TestRoundTrip(t *testing.T) {
	texts := []string{"", "x", "  \n\t ", "Hello, 世界 👨‍👩‍👧", strings.Repeat("ab ", 300), "<|im_start|>user\nhi<|im_end|>"}
	for _, dir := range []string{"../models/kjv-fortunes-7m", filepath.Join(fixtures, "llama3")} {
		tk := load(t, dir)
		for _, s := range texts {
			if got := tk.Decode(tk.Encode(s, false), DecodeOptions{}); got != s {
				t.Errorf("%s: round trip of %q gave %q", dir, s, got)
			}
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"Hello world", "I'm  \n\n x", "12345 ٣٤", "👍🏽<|im_end|>"} {
		f.Add(s)
	}
	tk := load(f, "../models/kjv-fortunes-7m")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		ids := tk.Encode(s, false)
		if got := tk.Decode(ids, DecodeOptions{}); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
		var b strings.Builder
		d := tk.NewStreamDecoder(false)
		for _, id := range ids {
			b.WriteString(d.Add(id))
		}
		b.WriteString(d.Flush())
		if b.String() != s {
			t.Fatalf("stream decode of %q gave %q", s, b.String())
		}
	})
}

// TestStreamDecoder: for every golden text and tokenizer, the streamed
// pieces add up to Decode and never contain a replacement character that
// Decode does not.
func TestStreamDecoder(t *testing.T) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string][]goldenCase
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	held := 0
	for name, dir := range goldenDirs {
		tk := load(t, dir)
		for _, c := range golden[name] {
			for _, skip := range []bool{false, true} {
				ids := c.IDsSpecial
				want := tk.Decode(ids, DecodeOptions{SkipSpecial: skip})
				d := tk.NewStreamDecoder(skip)
				var sb strings.Builder
				for _, id := range ids {
					p := d.Add(id)
					if p == "" {
						held++
					}
					if strings.ContainsRune(p, utf8.RuneError) && !strings.ContainsRune(want, utf8.RuneError) {
						t.Errorf("%s %q: piece %q has U+FFFD", name, c.Text, p)
					}
					sb.WriteString(p)
				}
				sb.WriteString(d.Flush())
				if sb.String() != want {
					t.Errorf("%s %q skip=%v: streamed %q, want %q", name, c.Text, skip, sb.String(), want)
				}
			}
		}
	}
	if held == 0 {
		t.Error("no token was ever held back; the test does not reach split characters")
	}
}

func TestConfigAddBOSAndEOS(t *testing.T) {
	b, err := os.ReadFile("testdata/spm-bpe/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		bos, eos *bool
		want     []int32 // for "Hello": <s>=1, </s>=2
	}{
		{nil, nil, []int32{1, 365}},
		{&no, nil, []int32{365}},
		{&yes, &yes, []int32{1, 365, 2}},
		{&no, &yes, []int32{365, 2}},
	}
	for _, tt := range tests {
		tk, err := New(b, Config{BOSToken: "<s>", EOSToken: "</s>", AddBOSToken: tt.bos, AddEOSToken: tt.eos})
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode("Hello", true); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("add_bos %v add_eos %v: %v %q, want %v", deref(tt.bos), deref(tt.eos), got, tk.tokensOf(got), tt.want)
		}
		if got := tk.Encode("Hello", false); !reflect.DeepEqual(got, []int32{365}) {
			t.Errorf("without special tokens: %v", got)
		}
	}
	if _, err := New(b, Config{AddEOSToken: &yes}); err == nil {
		t.Error("add_eos_token without an eos_token accepted")
	}
}

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "tokenizer.json"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name, json, want string
		unsupported      bool
	}{
		{"malformed", `{"model": `, "malformed tokenizer.json", false},
		{"nomodel", `{}`, `no "model"`, false},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {}}}`, `model type "WordPiece"`, true},
		{"unigram", `{"model": {"type": "Unigram", "vocab": []}}`, `model type "Unigram"`, true},
		{"normalizer", `{"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `normalizer type "Precompiled"`, true},
		{"pretok", `{"pre_tokenizer": {"type": "UnicodeScripts"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `pre_tokenizer type "UnicodeScripts"`, true},
		{"merge", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}`, `"b" is not in the vocab`, false},
		{"mergeformat", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}`, `two tokens separated by a space`, false},
		{"regex", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `regex "(unclosed"`, false},
		{"behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `unknown split behavior "Sideways"`, false},
		{"unk", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}`, `unk_token "<unk>" is not in the vocab`, false},
		{"template", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `special token "<s>" missing`, false},
	}
	for _, tt := range tests {
		_, err := Load(write(tt.name, tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tokenizer.json") {
			t.Errorf("%s: err = %v, want it to name tokenizer.json and say %q", tt.name, err, tt.want)
		}
		if got := errors.Is(err, ErrUnsupported); got != tt.unsupported {
			t.Errorf("%s: errors.Is(err, ErrUnsupported) = %v", tt.name, got)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no tokenizer.json") {
		t.Errorf("missing dir: %v", err)
	}
	bad := filepath.Join(dir, "gz")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "tokenizer.json.gz"), []byte("not gzip"), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "tokenizer.json.gz") {
		t.Errorf("corrupt gzip: %v", err)
	}
	cfgDir := write("badcfg", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`)
	os.WriteFile(filepath.Join(cfgDir, "tokenizer_config.json"), []byte(`{"bos_token": 5}`), 0o644)
	if _, err := Load(cfgDir); err == nil || !strings.Contains(err.Error(), "bos_token") {
		t.Errorf("bad config: %v", err)
	}
}

func FuzzNew(f *testing.F) {
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`))
	f.Add([]byte(`{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}]}, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}, "model": {"type": "BPE", "vocab": {"▁": 0}, "merges": [], "byte_fallback": true}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 3, "content": "<s>", "special": true}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a"]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := New(data, Config{})
		if err != nil {
			return
		}
		ids := tk.Encode("a ab <s> ▁x", true)
		tk.Decode(ids, DecodeOptions{})
	})
}

func TestConcurrentEncode(t *testing.T) {
	tk := load(t, filepath.Join(fixtures, "qwen3"))
	want := tk.Encode("Hello, my dog is cute", false)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := "Hello, my dog is cute"
				if i%2 == 0 {
					s = strings.Repeat("word", g+1) + " " + s
					tk.Encode(s, false)
					continue
				}
				if got := tk.Encode(s, false); !reflect.DeepEqual(got, want) {
					t.Errorf("concurrent Encode = %v", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAccessors(t *testing.T) {
	q := load(t, filepath.Join(fixtures, "qwen3"))
	if q.VocabSize() != 151669 {
		t.Errorf("VocabSize = %d, want 151669", q.VocabSize())
	}
	if id, ok := q.EOS(); !ok || id != 151645 {
		t.Errorf("EOS = %d %v, want <|im_end|> 151645", id, ok)
	}
	if _, ok := q.BOS(); ok {
		t.Error("Qwen3 has no BOS")
	}
	if s, _ := q.Token(151644); s != "<|im_start|>" || !q.IsSpecial(151644) {
		t.Errorf("Token(151644) = %q", s)
	}
	if got := q.Tokens("Hello world"); !reflect.DeepEqual(got, []string{"Hello", "Ġworld"}) {
		t.Errorf("Tokens = %q", got)
	}
	if n := len(q.AddedTokens()); n != 26 {
		t.Errorf("%d added tokens", n)
	}
	if got := CleanUpSpaces("Hello , world . I 'm here !"); got != "Hello, world. I'm here!" {
		t.Errorf("CleanUpSpaces = %q", got)
	}
}

func TestPostProcessorSequence(t *testing.T) {
	// Llama 3's layout: ByteLevel then TemplateProcessing with BOS.
	tk := tinyTokenizer(t, []AddedToken{{ID: 300, Content: "<bos>", Special: true}, {ID: 301, Content: "<eos>", Special: true}}, map[string]any{
		"post_processor": map[string]any{"type": "Sequence", "processors": []any{
			map[string]any{"type": "ByteLevel"},
			map[string]any{"type": "TemplateProcessing",
				"single":         []any{"<bos>", "$A", map[string]any{"SpecialToken": map[string]any{"id": "<eos>", "type_id": 0}}},
				"special_tokens": map[string]any{"<bos>": map[string]any{"id": "<bos>", "ids": []int{300}}, "<eos>": map[string]any{"id": "<eos>", "ids": []int{301}}}},
		}},
	})
	if got := tk.Encode(" world", true); !reflect.DeepEqual(got, []int32{300, 260, 301}) {
		t.Errorf("Encode = %v", got)
	}
	if got := tk.Encode("", true); !reflect.DeepEqual(got, []int32{300, 301}) {
		t.Errorf("Encode(\"\") = %v", got)
	}
}
