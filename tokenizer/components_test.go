package tokenizer

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestSplitBehaviors uses the example of HF tokenizers'
// SplitDelimiterBehavior documentation: "the-final--countdown" split on "-".
func TestSplitBehaviors(t *testing.T) {
	const s = "the-final--countdown"
	tests := []struct {
		b    behavior
		want []string
	}{
		{removed, []string{"the", "final", "countdown"}},
		{isolated, []string{"the", "-", "final", "-", "-", "countdown"}},
		{mergedWithPrevious, []string{"the-", "final-", "-", "countdown"}},
		{mergedWithNext, []string{"the", "-final", "-", "-countdown"}},
		{contiguous, []string{"the", "-", "final", "--", "countdown"}},
	}
	for _, tt := range tests {
		p := splitPre{pattern: literalPattern("-"), behavior: tt.b}
		var got []string
		for _, sp := range p.preTokenize([]span{{text: s}}) {
			got = append(got, sp.text)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("behavior %d: %q, want %q", tt.b, got, tt.want)
		}
	}
	// invert: the matches are the pieces.
	p := splitPre{pattern: literalPattern("-"), behavior: removed, invert: true}
	var got []string
	for _, sp := range p.preTokenize([]span{{text: s}}) {
		got = append(got, sp.text)
	}
	if !reflect.DeepEqual(got, []string{"-", "-", "-"}) {
		t.Errorf("invert: %q", got)
	}
}

func preTok(t *testing.T, js string, in ...span) []string {
	t.Helper()
	p, err := parsePreTokenizer(json.RawMessage(js))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sp := range p.preTokenize(in) {
		out = append(out, sp.text)
	}
	return out
}

func TestPreTokenizers(t *testing.T) {
	tests := []struct {
		name, json string
		in         []span
		want       []string
	}{
		{"digits individual", `{"type": "Digits", "individual_digits": true}`, []span{{text: "a123b"}}, []string{"a", "1", "2", "3", "b"}},
		{"digits grouped", `{"type": "Digits", "individual_digits": false}`, []span{{text: "a123b45"}}, []string{"a", "123", "b", "45"}},
		{"whitespace", `{"type": "Whitespace"}`, []span{{text: "Hey friend!  How are you?!?"}}, []string{"Hey", "friend", "!", "How", "are", "you", "?!?"}},
		{"whitespace split", `{"type": "WhitespaceSplit"}`, []span{{text: " a  b\tc "}}, []string{"a", "b", "c"}},
		{"punctuation", `{"type": "Punctuation"}`, []span{{text: "Hey,you$"}}, []string{"Hey", ",", "you", "$"}},
		{"metaspace always", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}`, []span{{text: "Hey friend"}, {text: "x"}}, []string{"▁Hey", "▁friend", "▁x"}},
		{"metaspace first", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": false}`, []span{{text: "Hey friend", first: true}, {text: "x"}}, []string{"▁Hey▁friend", "x"}},
		{"metaspace never", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"}`, []span{{text: "Hey  friend"}}, []string{"Hey", "▁", "▁friend"}},
		{"metaspace legacy add_prefix_space", `{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true}`, []span{{text: "x"}}, []string{"▁x"}},
		{"bytelevel prefix space", `{"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}`, []span{{text: "Hello world"}}, []string{"ĠHello", "Ġworld"}},
		{"split regex removed", `{"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Removed"}`, []span{{text: "a12b3"}}, []string{"a", "b"}},
		{"sequence", `{"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": true}]}`, []span{{text: "ab 12"}}, []string{"ab", "1", "2"}},
	}
	for _, tt := range tests {
		if got := preTok(t, tt.json, tt.in...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := parsePreTokenizer(json.RawMessage(`{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false, "prepend_scheme": "always"}`)); err == nil {
		t.Error("contradicting add_prefix_space and prepend_scheme accepted")
	}
}

func TestNormalizers(t *testing.T) {
	tests := []struct{ name, json, in, want string }{
		{"nfc", `{"type": "NFC"}`, "e\u0301", "é"},
		{"nfd", `{"type": "NFD"}`, "é", "e\u0301"},
		{"nfkc", `{"type": "NFKC"}`, "ﬁ①", "fi1"},
		{"nfkd", `{"type": "NFKD"}`, "ﬁ", "fi"},
		{"lowercase", `{"type": "Lowercase"}`, "HeLLo ÀÉ", "hello àé"},
		{"lowercase final sigma", `{"type": "Lowercase"}`, "ΟΔΟΣ ΣΑ", "οδος σα"},
		{"lowercase dotted I", `{"type": "Lowercase"}`, "İ", "i\u0307"},
		{"strip", `{"type": "Strip", "strip_left": true, "strip_right": false}`, "  a  ", "a  "},
		{"strip accents", `{"type": "StripAccents"}`, "e\u0301a", "ea"},
		{"prepend", `{"type": "Prepend", "prepend": "▁"}`, "a", "▁a"},
		{"prepend empty", `{"type": "Prepend", "prepend": "▁"}`, "", ""},
		{"replace string", `{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`, "a b  c", "a▁b▁▁c"},
		{"replace regex", `{"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " $0"}`, "a  b", "a $0b"},
		{"sequence", `{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}`, "a b", "▁a▁b"},
	}
	for _, tt := range tests {
		n, err := parseNormalizer(json.RawMessage(tt.json))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := n.normalize(tt.in); got != tt.want {
			t.Errorf("%s: %q -> %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestDecoders(t *testing.T) {
	tests := []struct {
		name, json string
		in         []string
		want       string
	}{
		{"metaspace", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}`, []string{"▁Hey", "▁friend"}, "Hey friend"},
		{"metaspace never", `{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"}`, []string{"▁Hey", "▁friend"}, " Hey friend"},
		{"byte fallback", `{"type": "ByteFallback"}`, []string{"a", "<0xE2>", "<0x82>", "<0xAC>", "b", "<0x61>", "<0xFF>"}, "a€b��"},
		{"byte fallback invalid group", `{"type": "ByteFallback"}`, []string{"<0x61>", "<0xFF>"}, "��"},
		{"strip", `{"type": "Strip", "content": " ", "start": 1, "stop": 1}`, []string{"  a  "}, " a "},
		{"wordpiece", `{"type": "WordPiece", "prefix": "##", "cleanup": true}`, []string{"Hel", "##lo", "world", "."}, "Hello world."},
		{"bpe decoder", `{"type": "BPEDecoder", "suffix": "</w>"}`, []string{"hel", "lo</w>", "world</w>"}, "hello world"},
		{"bytelevel", `{"type": "ByteLevel"}`, []string{"Hello", "Ġworld", "<|im_end|>", "日本"}, "Hello world<|im_end|>日本"},
	}
	for _, tt := range tests {
		d, err := parseDecoder(json.RawMessage(tt.json))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := ""
		for _, s := range d.decodeChain(tt.in, false) {
			got += s
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
