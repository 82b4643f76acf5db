package pipeline

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestParseGood(t *testing.T) {
	dir := "/specs"
	tests := []struct {
		name string
		yaml string
		want *Spec
	}{
		{"empty mapping", "{}", &Spec{Runtime: RuntimeSpec{Name: "cpu"}, Passes: []PassSpec{{Defaults: true, OnError: OnErrorFail}}, Verify: VerifyNone, Generate: GenerateSpec{MaxNewTokens: DefaultMaxNewTokens}}},
		{"empty file", "", &Spec{Runtime: RuntimeSpec{Name: "cpu"}, Passes: []PassSpec{{Defaults: true, OnError: OnErrorFail}}, Verify: VerifyNone, Generate: GenerateSpec{MaxNewTokens: DefaultMaxNewTokens}}},
		{"comments only", "# nothing\n", &Spec{Runtime: RuntimeSpec{Name: "cpu"}, Passes: []PassSpec{{Defaults: true, OnError: OnErrorFail}}, Verify: VerifyNone, Generate: GenerateSpec{MaxNewTokens: DefaultMaxNewTokens}}},
		{"full", `
version: 1
model: ../models/tiny
graph: {merged_decoder: true, attention_outputs: true, expand_kv_before_cache: true}
runtime:
  name: cuda
  plugin_dir: [plugins, /opt/graphpass]
  threads: 2
  timeout: 45s
only: [rms_norm, sdpa]
on_error: skip
passes:
  - default
  - name: quantize
    options: {bits: 4, group_size: 64, exclude: ["lm_head"], ratio: 0.5}
    on_error: fail
  - path: my/pass.wasm
    sha256: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789
  - ./other.wasm
verify: numeric
generate:
  prompt: "Never trust a"
  chat: true
  system: Be brief.
  max_new_tokens: 12
  ignore_eos: true
  sampling:
    do_sample: true
    temperature: 0.7
    top_k: 40
    top_p: 0.9
    min_p: 0.05
    repetition_penalty: 1.1
    seed: 18446744073709551615
`, &Spec{
			Model:   "/models/tiny",
			Graph:   GraphSpec{MergedDecoder: true, AttentionOutputs: true, ExpandKVBeforeCache: true},
			Runtime: RuntimeSpec{Name: "cuda", PluginDirs: []string{"/specs/plugins", "/opt/graphpass"}, Threads: 2, CallTimeout: 45 * time.Second},
			Only:    []string{"rms_norm", "sdpa"},
			Passes: []PassSpec{
				{Defaults: true, OnError: OnErrorSkip, Line: 13},
				{Name: "quantize", Options: `{"bits":4,"exclude":["lm_head"],"group_size":64,"ratio":0.5}`, OnError: OnErrorFail, Line: 14},
				{Path: "/specs/my/pass.wasm", SHA256: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", OnError: OnErrorSkip, Line: 17},
				{Path: "/specs/other.wasm", OnError: OnErrorSkip, Line: 19},
			},
			Verify: VerifyNumeric,
			Generate: GenerateSpec{Prompt: "Never trust a", Chat: true, System: "Be brief.", MaxNewTokens: 12, IgnoreEOS: true,
				Sampling: Sampling{DoSample: ptr(true), Temperature: ptr(0.7), TopK: ptr(40), TopP: ptr(0.9), MinP: ptr(0.05), RepetitionPenalty: ptr(1.1), Seed: ptr(uint64(18446744073709551615))}},
		}},
		{"runtime path shorthand and passes none", "runtime: ./bin/pipeline-runtime-metal\npasses: none\ngenerate: {ids: [1, 2, 3]}\n", &Spec{
			Runtime: RuntimeSpec{Path: "/specs/bin/pipeline-runtime-metal"}, Passes: []PassSpec{}, Verify: VerifyNone,
			Generate: GenerateSpec{IDs: [][]int32{{1, 2, 3}}, MaxNewTokens: DefaultMaxNewTokens}}},
		{"batched ids, inproc, anchors", "runtime: inproc\nx: &o {bits: 2}\n", nil}, // unknown key x (anchors are fine, unknown keys are not)
		{"batched ids", "runtime: {name: inproc}\npasses: [rms_norm, {name: swiglu}]\ngenerate:\n  ids: [[1, 2], [3]]\n", &Spec{
			Runtime: RuntimeSpec{Name: "inproc"}, Verify: VerifyNone,
			Passes:   []PassSpec{{Name: "rms_norm", OnError: OnErrorFail, Line: 2}, {Name: "swiglu", OnError: OnErrorFail, Line: 2}},
			Generate: GenerateSpec{IDs: [][]int32{{1, 2}, {3}}, MaxNewTokens: DefaultMaxNewTokens}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml), dir)
			if tt.want == nil {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"malformed", "model: [unclosed\n", "malformed YAML"},
		{"tab indent", "generate:\n\tprompt: x\n", "line 2: malformed YAML: found character that cannot start any token"},
		{"two documents", "model: a\n---\nmodel: b\n", "line 2: more than one YAML document"},
		{"not a mapping", "- a\n", "line 1: pipeline spec: expected a mapping, got a list"},
		{"unknown key", "modle: x\n", `line 1: unknown key "modle" in pipeline spec (known: generate, graph, model, on_error, only, passes, runtime, verify, version)`},
		{"unknown nested key", "generate:\n  prompt: hi\n  max_tokens: 3\n", `line 3: unknown key "max_tokens" in generate (known: chat, ids, ignore_eos, max_new_tokens, prompt, sampling, system)`},
		{"unknown sampling key", "generate:\n  sampling:\n    temp: 1\n", `line 3: unknown key "temp" in generate sampling`},
		{"duplicate key", "model: a\nmodel: b\n", `line 2: duplicate key "model"`},
		{"wrong version", "version: 2\n", "line 1: version 2: this pipeline reads version 1"},
		{"model not a string", "model: 3\n", "line 1: model: expected a string, got the number 3"},
		{"bad verify", "verify: maybe\n", `line 1: verify: "maybe" is not one of none, structural, numeric`},
		{"bad on_error", "passes:\n  - name: swiglu\n    on_error: ignore\n", `line 3: on_error: "ignore" is not one of fail, skip`},
		{"passes scalar", "passes: all\n", `line 1: passes: expected "default", "none" or a list, got "all"`},
		{"pass without name", "passes:\n  - options: {a: 1}\n", "line 2: passes entry: give name: or path:"},
		{"pass name and path", "passes:\n  - {name: a, path: b.wasm}\n", "line 2: passes entry: give name: or path:, not both"},
		{"pass name is a path", "passes:\n  - name: x/y.wasm\n", `line 2: pass name "x/y.wasm" looks like a path: use path:`},
		{"sha256 on builtin", "passes:\n  - {name: swiglu, sha256: " + strings.Repeat("a", 64) + "}\n", "sha256 pins a .wasm file"},
		{"bad sha256", "passes:\n  - {path: a.wasm, sha256: xyz}\n", `line 2: pass sha256: "xyz" is not a sha256 (64 hex digits)`},
		{"options not a mapping", "passes:\n  - {name: quantize, options: [1]}\n", "line 2: pass options: expected a mapping, got a list"},
		{"options inf", "passes:\n  - {name: quantize, options: {x: .inf}}\n", "has no JSON form"},
		{"runtime empty mapping", "runtime: {}\n", "line 1: runtime: give name: or path:"},
		{"runtime bad name", "runtime: CUDA!\n", `line 1: runtime: "CUDA!" is not a runtime name`},
		{"runtime timeout", "runtime: {name: cpu, timeout: soon}\n", `runtime timeout: "soon" is not a positive duration`},
		{"inproc sha", "runtime: {name: inproc, sha256: " + strings.Repeat("0", 64) + "}\n", "inproc has none"},
		{"prompt and ids", "generate: {prompt: a, ids: [1]}\n", "give prompt: or ids:, not both"},
		{"bad ids", "generate: {ids: [1, x]}\n", `generate ids: expected a token id, got "x"`},
		{"negative id", "generate: {ids: [-1]}\n", "generate ids: -1 is not a token id"},
		{"empty ids", "generate: {ids: []}\n", "generate ids: expected a non-empty list"},
		{"top_p range", "generate: {sampling: {top_p: 1.5}}\n", "sampling top_p: 1.5 is outside [0, 1]"},
		{"top_k type", "generate: {sampling: {top_k: 4.5}}\n", "sampling top_k: expected an integer, got the number 4.5"},
		{"negative max", "generate: {max_new_tokens: -1}\n", "max_new_tokens: -1 is negative"},
		{"system without chat", "generate: {prompt: a, system: b}\n", "system: needs chat: true"},
		{"chat with ids", "generate: {ids: [1], chat: true}\n", "chat: renders a prompt: text"},
		{"only not a list", "only: rms_norm\n", "line 1: only: expected a list"},
		{"chat not bool", "generate: {chat: yes please}\n", `generate chat: expected true or false, got "yes please"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/specs")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\nlacks %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestReadFileNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte("model: m\nrunime: cpu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: unknown key \"runime\"") {
		t.Fatalf("err = %v", err)
	}
	_, err = ReadFile(filepath.Join(dir, "missing.yaml"))
	if err == nil || err.Error() != filepath.Join(dir, "missing.yaml")+": no such file" {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(path, []byte("model: ../m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(dir), "m"); s.Model != want || s.File != path {
		t.Fatalf("model %q file %q, want %q", s.Model, s.File, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("model: x\npasses: [a, {path: b.wasm, options: {k: [1, 2]}}]\ngenerate: {ids: [[1], [2]]}\n"))
	f.Add([]byte("runtime: {name: cpu, plugin_dir: [a]}\nverify: numeric\n"))
	f.Add([]byte("x: &a [1]\ny: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "/d")
		if err == nil && s == nil {
			t.Fatal("nil spec without error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}
