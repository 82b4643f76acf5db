package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphpass/graphpass/tokenizer"
)

func render(t *testing.T, src string, msgs []Message, opts Options) string {
	t.Helper()
	tpl, err := New(src, tokenizer.Config{BOSToken: "<s>", EOSToken: "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Render(msgs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPythonisms covers what transformers' Jinja environment provides and
// chat templates use; expected values are Python's / Jinja's.
func TestPythonisms(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "  Hi there \n"}}
	tests := []struct{ name, src, want string }{
		{"trim filter", `{{ messages[0].content | trim }}`, "Hi there"},
		{"strip method", `{{ messages[0]['content'].strip() }}|{{ "xxaxx".strip("x") }}`, "Hi there|a"},
		{"lstrip rstrip", `{{ "\n\na\n".lstrip("\n") }}|{{ "a\n\n".rstrip("\n") }}`, "a\n|a"},
		{"split index", `{{ "a</think>b</think>c".split("</think>")[-1] }}`, "c"},
		{"startswith endswith", `{{ "<tool_response>x".startswith("<tool_response>") }} {{ "ab".endswith("c") }}`, "True False"},
		{"reverse slice", `{% for m in [1,2,3][::-1] %}{{ m }}{% endfor %}`, "321"},
		{"namespace", `{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}`, "3"},
		{"loop vars", `{% for m in ["a","b"] %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }} {% endfor %}`, "0TrueFalse 1FalseTrue "},
		{"special tokens", `{{ bos_token }}|{{ eos_token }}`, "<s>|</s>"},
		{"undefined is empty", `[{{ pad_token }}]`, "[]"},
		{"is defined", `{{ enable_thinking is defined }}`, "False"},
		{"trim_blocks", "{% if true %}\nx{% endif %}\n", "x"},
		{"lstrip_blocks", "  {% if true %}x{% endif %}", "x"},
		{"tools none", `{{ tools is none }}`, "True"},
		{"tojson string", `{{ "a\"b\n<é>" | tojson }}`, `"a\"b\n<é>"`},
		{"tojson ordered dict", `{{ {"z": 1, "a": [true, none, "x"]} | tojson }}`, `{"z": 1, "a": [true, null, "x"]}`},
		{"tojson indent", `{{ {"a": [1]} | tojson(indent=2) }}`, "{\n  \"a\": [\n    1\n  ]\n}"},
		{"tojson sort_keys", `{{ {"b": 1, "a": 2} | tojson(sort_keys=true) }}`, `{"a": 2, "b": 1}`},
		{"tojson float", `{{ [1.0, 0.5, 1e-7] | tojson }}`, `[1.0, 0.5, 1e-07]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.src, msgs, Options{}); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStrftimeNow(t *testing.T) {
	now := func() time.Time { return time.Date(2024, 7, 5, 9, 3, 1, 0, time.UTC) }
	src := `{{ strftime_now("%d %b %Y") }}|{{ strftime_now("%Y-%m-%d %H:%M:%S %A %B %-d %j %p %%") }}`
	want := "05 Jul 2024|2024-07-05 09:03:01 Friday July 5 187 AM %"
	if got := render(t, src, nil, Options{Now: now}); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestErrors(t *testing.T) {
	for _, src := range []string{"{% if %}", "{% for x in %}{% endfor %}", "{{ unclosed", "{% endif %}"} {
		_, err := New(src, tokenizer.Config{})
		if err == nil {
			t.Errorf("New(%q): no error", src)
			continue
		}
		if !strings.HasPrefix(err.Error(), "chat template: syntax error") || strings.Count(err.Error(), src) > 0 && len(src) > 12 {
			t.Errorf("New(%q): %v", src, err)
		}
	}
	tpl, err := New(`{{ raise_exception("Only user and assistant roles are supported!") }}`, tokenizer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Render(nil, Options{}); err == nil || err.Error() != "chat template: Only user and assistant roles are supported!" {
		t.Errorf("raise_exception: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"eos_token": "</s>"}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("no template: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(`{{ eos_token }}`), 0o644)
	if out, err := Render(dir, nil, Options{}); err != nil || out != "</s>" {
		t.Errorf("chat_template.jinja: %q %v", out, err)
	}
}

func TestParseConversation(t *testing.T) {
	c, err := ParseConversation([]byte(`{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": 2}}}]}], "tools": [{"name": "f"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 2 || len(c.Tools) != 1 || c.Messages[1].Fields[0].Key != "tool_calls" {
		t.Fatalf("%+v", c)
	}
	got := render(t, `{{ messages[0].content[0].text }} {{ messages[1].tool_calls[0].function.arguments | tojson }}`, c.Messages, Options{})
	if got != `hi {"b": 1, "a": 2}` {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{`{`, `42`, `[1]`, `[{"content": "x"}]`, `{"messages": 1}`, `[{"role": 3}]`, `[] []`} {
		if _, err := ParseConversation([]byte(bad)); err == nil {
			t.Errorf("ParseConversation(%s): no error", bad)
		}
	}
}
