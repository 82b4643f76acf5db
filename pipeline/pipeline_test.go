package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/generate"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/plugins"
)

// envServe makes the test binary serve an embedded runtime as a plugin,
// standing in for `pipeline plugin serve NAME`.
const envServe = "GRAPHPASS_PIPELINE_TEST_SERVE"

func TestMain(m *testing.M) {
	plugins.RegisterEmbedded("cpu", func() (backend.Runtime, error) { return cpu.New(), nil })
	switch mode := os.Getenv(envServe); mode {
	case "":
		os.Exit(m.Run())
	case "embedded":
		name := os.Args[len(os.Args)-1]
		open, ok := plugins.Embedded(name)
		if !ok {
			fmt.Fprintln(os.Stderr, "no embedded runtime", name)
			os.Exit(2)
		}
		rt, err := open()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		plugins.Serve(rt, plugins.ServeConfig{Version: "test"})
	case "v2":
		plugins.Serve(cpu.New(), plugins.ServeConfig{ProtocolVersions: []int{2}})
	}
	os.Exit(0)
}

// testOptions find embedded runtimes in this test binary.
func testOptions(t *testing.T) Options {
	return Options{
		Find:       plugins.FindOptions{Self: os.Args[0], SelfArgs: []string{"-test.run=^$", "--"}, Env: []string{envServe + "=embedded"}},
		DerivedDir: t.TempDir(),
	}
}

type fixtureRef struct {
	GeneratedIDs [][]int32 `json:"generated_ids"`
	NewTokens    int       `json:"new_tokens"`
}

// fixturePrompts splits a fixture's generated_ids into the prompts (row 1
// without its 3 left pads) and the expected new ids.
func fixturePrompts(t *testing.T, dir string) (prompts, want [][]int32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref fixtureRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	const seq, pads = 8, 3
	prompts = [][]int32{ref.GeneratedIDs[0][:seq], ref.GeneratedIDs[1][pads:seq]}
	want = [][]int32{ref.GeneratedIDs[0][seq:], ref.GeneratedIDs[1][seq:]}
	return prompts, want
}

func specFor(t *testing.T, yaml string) *Spec {
	t.Helper()
	s, err := Parse([]byte(yaml), ".")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func idsYAML(rows [][]int32) string {
	b, _ := json.Marshal(rows)
	return string(b)
}

// TestFixturesThroughPlugin is the end-to-end test: pipeline.yaml with
// the default passes → the cpu runtime plugin process → greedy ids equal
// the Hugging Face references, for a batch with a left-padded row; and the
// same through the in-process runtime.
func TestFixturesThroughPlugin(t *testing.T) {
	names := []string{"qwen3-tiny", "llama-tiny-llama3rope", "qwen3-tiny-mlx4bit", "llama-tiny-mha", "qwen2-tiny", "mistral-tiny-swa", "gpt2-tiny"}
	if testing.Short() {
		names = names[:2]
	}
	ctx := context.Background()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "testdata", "fixtures", name)
			prompts, want := fixturePrompts(t, dir)
			s := specFor(t, fmt.Sprintf(`
model: %s
passes: default
verify: structural
generate:
  ids: %s
  max_new_tokens: %d
  ignore_eos: true
  sampling: {do_sample: false}
`, absPath(dir), idsYAML(prompts), len(want[0])))
			opts := testOptions(t)
			p, err := Prepare(ctx, s, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, r := range p.Reports {
				if r.Error != "" {
					t.Errorf("pass %s: %s", r.Pass, r.Error)
				}
			}
			for _, runtime := range []string{"cpu", "inproc"} {
				rt, _, err := OpenRuntime(ctx, RuntimeSpec{Name: runtime}, opts)
				if err != nil {
					t.Fatal(err)
				}
				m, _, err := p.Load(ctx, rt)
				if err != nil {
					t.Fatal(err)
				}
				gen, err := p.Generate(ctx, m, GenerateOptions{})
				m.Close()
				rt.Close()
				if err != nil {
					t.Fatalf("%s: %v", runtime, err)
				}
				if !reflect.DeepEqual(gen.NewIDs, want) {
					t.Fatalf("%s: new ids\n got %v\nwant %v", runtime, gen.NewIDs, want)
				}
				if gen.InPlugin != (runtime == "cpu") {
					t.Errorf("%s: InPlugin = %v", runtime, gen.InPlugin)
				}
			}
			t.Logf("%d passes, %d → %d nodes", len(p.Reports), p.Source.NumNodes(), p.Graph.NumNodes())
		})
	}
}

// TestBundledModelReference: the default spec (bundled model, default
// passes, cpu plugin) reproduces the bundled model's reference greedy
// continuations, from the prompt text to the decoded text.
func TestBundledModelReference(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "models", "kjv-fortunes-7m", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Prompt    string  `json:"prompt"`
			PromptIDs []int32 `json:"prompt_ids"`
			Greedy    []int32 `json:"greedy_new_ids"`
			Text      string  `json:"greedy_text"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := Default()
	opts := testOptions(t)
	p, err := Prepare(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rt, _, err := OpenRuntime(ctx, s.Runtime, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, _, err := p.Load(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, c := range ref.Cases {
		t.Run(c.Prompt, func(t *testing.T) {
			s.Generate.Prompt = c.Prompt
			s.Generate.MaxNewTokens = len(c.Greedy)
			s.Generate.IgnoreEOS = true
			gen, err := p.Generate(ctx, m, GenerateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gen.PromptIDs[0], c.PromptIDs) {
				t.Fatalf("prompt ids %v, want %v", gen.PromptIDs[0], c.PromptIDs)
			}
			if !reflect.DeepEqual(gen.NewIDs[0], c.Greedy) {
				t.Fatalf("new ids\n got %v\nwant %v", gen.NewIDs[0], c.Greedy)
			}
			if gen.Text[0] != c.Text {
				t.Fatalf("text %q, want %q", gen.Text[0], c.Text)
			}
		})
	}
}

// TestStreamedTextEqualsDecoded: the text streamed token by token is the
// text decoded at the end.
func TestStreamedTextEqualsDecoded(t *testing.T) {
	s := Default()
	s.Runtime = RuntimeSpec{Name: "inproc"}
	s.Generate.MaxNewTokens = 16
	ctx := context.Background()
	opts := testOptions(t)
	p, err := Prepare(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rt, _, err := OpenRuntime(ctx, s.Runtime, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := p.Load(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	var streamed strings.Builder
	tokens := 0
	gen, err := p.Generate(ctx, m, GenerateOptions{
		OnText:  func(row int, text string) error { streamed.WriteString(text); return nil },
		OnToken: func(e generate.Event) error { tokens++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if streamed.String() != gen.Text[0] || tokens != len(gen.NewIDs[0]) {
		t.Fatalf("streamed %q (%d tokens), decoded %q (%d tokens)", streamed.String(), tokens, gen.Text[0], len(gen.NewIDs[0]))
	}
}

func TestPipelineErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.wasm")
	if err := os.WriteFile(garbage, []byte("not wasm at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixture := absPath(filepath.Join("..", "testdata", "fixtures", "qwen3-tiny"))
	tests := []struct {
		name string
		yaml string
		want []string
		is   error
	}{
		{"unknown pass", "passes: [swiglu, fuse_everything]\n", []string{`test.yaml:2: unknown pass "fuse_everything"`}, nil},
		{"missing wasm", "passes:\n  - path: nowhere/p.wasm\n", []string{"test.yaml:3: pass file /", "nowhere/p.wasm: no such file"}, nil},
		{"garbage wasm", "passes: [" + garbage + "]\n", []string{`pass "garbage"`, garbage, "invalid module"}, host.ErrInvalidModule},
		{"garbage wasm skipped", "passes: [{path: " + garbage + ", on_error: skip}]\n", nil, nil},
		{"wasm sha256 mismatch", "passes:\n  - {path: " + garbage + ", sha256: " + strings.Repeat("ab", 32) + "}\n", []string{"sha256 mismatch", "pinned " + strings.Repeat("ab", 32)}, host.ErrPinMismatch},
		{"only without default", "only: [rms_norm]\npasses: none\n", []string{"only: selects among the default passes"}, nil},
		{"missing model", "model: " + filepath.Join(dir, "nope") + "\nruntime: inproc\n", []string{"nope: no such directory"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "model: " + fixture + "\n" + tt.yaml
			if strings.HasPrefix(tt.yaml, "model:") {
				y = "# a model of its own\n" + tt.yaml
			}
			s := specFor(t, y)
			s.File = "test.yaml"
			p, err := Prepare(context.Background(), s, testOptions(t))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if len(p.Reports) != 1 || !p.Reports[0].Skipped || !strings.Contains(p.Reports[0].Error, "invalid module") {
					t.Fatalf("reports %+v", p.Reports)
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestRuntimeErrors(t *testing.T) {
	dir := t.TempDir()
	notPlugin := filepath.Join(dir, "pipeline-runtime-fake")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := plugins.FileSHA256(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	v2 := Options{Find: plugins.FindOptions{Self: os.Args[0], SelfArgs: []string{"-test.run=^$", "--"}, Env: []string{envServe + "=v2"}}}
	tests := []struct {
		name string
		rs   RuntimeSpec
		opts Options
		want []string
		is   error
	}{
		{"unknown runtime", RuntimeSpec{Name: "tpu"}, testOptions(t), []string{`unknown runtime "tpu": no pipeline-runtime-tpu in`, "built in: cpu"}, plugins.ErrNotFound},
		{"plugin binary missing", RuntimeSpec{Path: filepath.Join(dir, "pipeline-runtime-gone")}, testOptions(t), []string{"pipeline-runtime-gone: no such file"}, plugins.ErrNotFound},
		{"not a plugin", RuntimeSpec{Path: notPlugin}, testOptions(t), []string{"not a graphpass runtime plugin", `printed "hello"`}, plugins.ErrPluginFailed},
		{"wrong protocol version", RuntimeSpec{Name: "cpu"}, v2, []string{"speaks runtime-plugin protocol version 2, this pipeline speaks [1]"}, plugins.ErrPluginFailed},
		{"sha256 mismatch", RuntimeSpec{Name: "cpu", SHA256: strings.Repeat("0", 64)}, testOptions(t), []string{"sha256 mismatch: the file has " + self}, plugins.ErrPluginFailed},
		{"plugin dir", RuntimeSpec{Name: "fake", PluginDirs: []string{dir}}, testOptions(t), []string{"not a graphpass runtime plugin"}, plugins.ErrPluginFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, _, err := OpenRuntime(context.Background(), tt.rs, tt.opts)
			if err == nil {
				rt.Close()
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	// The right checksum starts it.
	rt, info, err := OpenRuntime(context.Background(), RuntimeSpec{Name: "cpu", SHA256: self}, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if info.Kind != "plugin" || info.Source != "embedded" || info.Name != "cpu" {
		t.Fatalf("info %+v", info)
	}
}

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		s, err := ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ResolvePasses(s); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	d := Default()
	if d.Runtime.Name != "cpu" || d.Model != "" || d.Generate.Prompt == "" || len(d.Passes) != 1 || !d.Passes[0].Defaults {
		t.Fatalf("default spec %+v", d)
	}
}

// TestQuantizePassThroughPlugin: a pass that asks for derived weights
// (quantize) → the host materialises them into the cache → the plugin maps
// them like checkpoint weights; plugin and in-process runs agree.
func TestQuantizePassThroughPlugin(t *testing.T) {
	dir := filepath.Join("..", "testdata", "fixtures", "qwen3-tiny")
	prompts, _ := fixturePrompts(t, dir)
	s := specFor(t, fmt.Sprintf(`
model: %s
passes:
  - default
  - name: quantize
    options: {bits: 4, group_size: 64, rules: mlx}
generate:
  ids: %s
  max_new_tokens: 6
  ignore_eos: true
  sampling: {do_sample: false}
`, absPath(dir), idsYAML(prompts)))
	ctx := context.Background()
	opts := testOptions(t)
	p, err := Prepare(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if last := p.Reports[len(p.Reports)-1]; last.Pass != "quantize" || last.Matches == 0 {
		t.Fatalf("quantize report %+v", last)
	}
	var ids [][][]int32
	for _, runtime := range []string{"cpu", "inproc"} {
		rt, _, err := OpenRuntime(ctx, RuntimeSpec{Name: runtime}, opts)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := p.Load(ctx, rt)
		if err != nil {
			t.Fatal(err)
		}
		gen, err := p.Generate(ctx, m, GenerateOptions{})
		m.Close()
		rt.Close()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, gen.NewIDs)
	}
	if !reflect.DeepEqual(ids[0], ids[1]) {
		t.Fatalf("plugin %v, in-process %v", ids[0], ids[1])
	}
	if n := p.Graph.OpCounts()["QuantizedMatMul"]; n == 0 {
		t.Fatal("no QuantizedMatMul in the rewritten graph")
	}
	derived := 0
	for _, in := range p.Graph.Initializers {
		if in.Derive != nil {
			t.Fatalf("initializer %s still derived after Load", in.Name)
		}
		switch {
		case in.Ref == nil:
		case strings.HasPrefix(in.Ref.File, opts.DerivedDir):
			derived++
		case !strings.HasPrefix(in.Ref.File, absPath(dir)):
			t.Fatalf("initializer %s refers to %s", in.Name, in.Ref.File)
		}
	}
	if derived == 0 {
		t.Fatal("no initializer refers to the derived-weights cache")
	}
}
