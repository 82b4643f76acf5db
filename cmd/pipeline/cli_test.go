package main

// End-to-end tests of the CLI: TestMain builds the binary once and the
// tests run it as a user would, checking stdout, stderr and exit codes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

var (
	// pipelineBin is the CLI built for the tests; cpuPluginBin the
	// standalone cpu runtime plugin.
	pipelineBin, cpuPluginBin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pipeline-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		exe := ""
		if runtime.GOOS == "windows" {
			exe = ".exe"
		}
		pipelineBin = filepath.Join(dir, "bin", "pipeline"+exe)
		cpuPluginBin = filepath.Join(dir, "plugins", "pipeline-runtime-cpu"+exe)
		for _, b := range []struct{ out, pkg string }{{pipelineBin, "."}, {cpuPluginBin, "../pipeline-runtime-cpu"}} {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building", b.pkg+":", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// cli runs the CLI in dir ("" = this package's directory) with args.
func cli(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(pipelineBin, args...)
	cmd.Dir = dir
	// The user's cache directory is shared (wasm compilation cache,
	// derived weights, the extracted bundled model), as in real use.
	cmd.Env = append(os.Environ(), "GRAPHPASS_PLUGIN_DIR=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// mustSucceed fails the test unless the run exited 0.
func (r result) mustSucceed(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	return r
}

// oneLineError checks a failed run: the exit code, and a stderr that is one
// line "pipeline: …" containing every want.
func (r result) oneLineError(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "pipeline: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("stderr is not one line `pipeline: …`: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr has a stack trace: %q", r.stderr)
	}
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, s)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value:\n%s", s)
	}
}

func fixtureDir(name string) string {
	p, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "fixtures", name))
	return p
}

// reference reads a fixture's prompts (row 1 without its 3 pads) and
// expected greedy ids.
func reference(t *testing.T, name string) (prompts, want [][]int32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(name), "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		GeneratedIDs [][]int32 `json:"generated_ids"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return [][]int32{ref.GeneratedIDs[0][:8], ref.GeneratedIDs[1][3:8]}, [][]int32{ref.GeneratedIDs[0][8:], ref.GeneratedIDs[1][8:]}
}

func idsFlag(rows ...[]int32) string {
	var rs []string
	for _, r := range rows {
		rs = append(rs, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(r)), ","), "[]"))
	}
	return strings.Join(rs, ";")
}

func TestVersion(t *testing.T) {
	r := cli(t, "", nil, "version", "--json").mustSucceed(t)
	var v struct {
		Version          string   `json:"version"`
		Go               string   `json:"go"`
		PassABI          []int    `json:"pass_abi_versions"`
		PluginProtocol   []int    `json:"plugin_protocol_versions"`
		EmbeddedRuntimes []string `json:"embedded_runtimes"`
	}
	decodeJSON(t, r.stdout, &v)
	if v.Version == "" || v.Go != runtime.Version() || !reflect.DeepEqual(v.PassABI, []int{1}) || !reflect.DeepEqual(v.PluginProtocol, []int{1}) || !contains(v.EmbeddedRuntimes, "cpu") {
		t.Fatalf("version %+v", v)
	}
	r = cli(t, "", nil, "version").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "pipeline ") {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

type generateOut struct {
	PromptIDs []int32 `json:"prompt_ids"`
	NewIDs    []int32 `json:"new_ids"`
	Text      *string `json:"text"`
	Finish    string  `json:"finish"`
	Runtime   struct {
		Name, Kind, Source string
	} `json:"runtime"`
	Passes []struct {
		Name    string  `json:"name"`
		Matches int     `json:"matches"`
		Error   *string `json:"error"`
	} `json:"passes"`
}

// TestGenerateRuntimesAgree: the cpu plugin (embedded, standalone by path,
// and found next to the CLI) and the in-process cpu runtime give the
// fixtures' reference greedy ids.
func TestGenerateRuntimesAgree(t *testing.T) {
	for _, c := range []struct {
		name     string
		runtimes []string
	}{
		{"qwen3-tiny", []string{"inproc", "cpu", cpuPluginBin}},
		{"llama-tiny-llama3rope", []string{"cpu"}},
	} {
		name := c.name
		prompts, want := reference(t, name)
		for _, rt := range c.runtimes {
			t.Run(name+"/"+filepath.Base(rt), func(t *testing.T) {
				r := cli(t, "", nil, "generate", "--model", fixtureDir(name), "--runtime", rt, "--ids", idsFlag(prompts[0]),
					"--max-new-tokens", fmt.Sprint(len(want[0])), "--greedy", "--ignore-eos", "--json").mustSucceed(t)
				var g generateOut
				decodeJSON(t, r.stdout, &g)
				if !reflect.DeepEqual(g.PromptIDs, prompts[0]) || !reflect.DeepEqual(g.NewIDs, want[0]) {
					t.Fatalf("prompt %v new %v, want %v %v", g.PromptIDs, g.NewIDs, prompts[0], want[0])
				}
				if g.Text != nil {
					t.Errorf("text %q from a model without a tokenizer", *g.Text)
				}
				if g.Finish != "length" {
					t.Errorf("finish %q", g.Finish)
				}
				wantKind := "plugin"
				if rt == "inproc" {
					wantKind = "inproc"
				}
				if g.Runtime.Name != "cpu" || g.Runtime.Kind != wantKind {
					t.Errorf("runtime %+v", g.Runtime)
				}
			})
		}
	}
}

func TestGenerateBatchAndText(t *testing.T) {
	prompts, want := reference(t, "qwen3-tiny")
	r := cli(t, "", nil, "generate", "--model", fixtureDir("qwen3-tiny"), "--ids", idsFlag(prompts...),
		"--max-new-tokens", "12", "--greedy", "--ignore-eos", "--json").mustSucceed(t)
	var g struct {
		PromptIDs [][]int32 `json:"prompt_ids"`
		NewIDs    [][]int32 `json:"new_ids"`
		Rows      int       `json:"rows"`
	}
	decodeJSON(t, r.stdout, &g)
	if g.Rows != 2 || !reflect.DeepEqual(g.PromptIDs, prompts) || !reflect.DeepEqual(g.NewIDs, want) {
		t.Fatalf("got %+v, want new %v", g, want)
	}
	// The bundled model has a tokenizer: text comes back, and the ids
	// match its reference continuation.
	r = cli(t, "", nil, "generate", "--prompt", "In the beginning", "--max-new-tokens", "8", "--greedy", "--ignore-eos", "--json").mustSucceed(t)
	var one generateOut
	decodeJSON(t, r.stdout, &one)
	if want := []int32{1088, 262, 2401}; !reflect.DeepEqual(one.PromptIDs, want) {
		t.Fatalf("prompt ids %v, want %v", one.PromptIDs, want)
	}
	if want := []int32{271, 262, 892, 14, 262, 892, 272, 262}; !reflect.DeepEqual(one.NewIDs, want) {
		t.Fatalf("new ids %v, want %v", one.NewIDs, want)
	}
	if one.Text == nil || *one.Text != " of the world, the world and the" {
		t.Fatalf("text %v", one.Text)
	}
}

// TestRunDefaultOutsideRepo is the newcomer's first command: from any
// directory, `pipeline run` runs the bundled model through the default
// passes on the embedded cpu plugin and prints the reference continuation.
func TestRunDefaultOutsideRepo(t *testing.T) {
	r := cli(t, t.TempDir(), nil, "run").mustSucceed(t)
	const want = "Never trust a man.\n\t\t-- William Shakespeare, \"The Taming of the Screw\""
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("stdout %q, want it to start with %q", r.stdout, want)
	}
	for _, w := range []string{"model    kjv-fortunes-7m (bundled), Qwen3ForCausalLM", "runtime  cpu (plugin, embedded, pid ", "decode "} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("report lacks %q:\n%s", w, r.stderr)
		}
	}
	// No progress bars when stderr is not a terminal.
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("progress output on a non-terminal stderr: %q", r.stderr)
	}
}

func TestRunJSON(t *testing.T) {
	r := cli(t, "", nil, "run", "--json", "--runtime", "inproc").mustSucceed(t)
	var rep struct {
		NewIDs [][]int32 `json:"new_ids"`
		Text   []string  `json:"text"`
		Passes []any     `json:"passes"`
	}
	decodeJSON(t, r.stdout, &rep)
	if len(rep.Text) != 1 || !strings.HasPrefix(rep.Text[0], " man.") {
		t.Fatalf("report %+v", rep)
	}
}

// run --model runs the default pipeline on another checkpoint, here a
// 4-bit copy of the bundled model that quantize writes (and names in its
// next-step hint); a relative path is the working directory's.
func TestRunModelFlag(t *testing.T) {
	dir := t.TempDir()
	q := cli(t, dir, nil, "quantize", "--out", "q4", "-q").mustSucceed(t)
	if !strings.Contains(q.stdout, "next: pipeline run --model "+filepath.Join(dir, "q4")) {
		t.Errorf("quantize's output lacks the next step: %q", q.stdout)
	}
	r := cli(t, dir, nil, "run", "--model", "q4", "--json", "--runtime", "inproc", "--max-new-tokens", "6").mustSucceed(t)
	var rep struct {
		Model   string   `json:"model"`
		Bundled bool     `json:"bundled_model"`
		Text    []string `json:"text"`
	}
	decodeJSON(t, r.stdout, &rep)
	if rep.Bundled || !strings.HasSuffix(rep.Model, "q4") || len(rep.Text) != 1 || rep.Text[0] == "" {
		t.Fatalf("report %+v", rep)
	}
	cli(t, dir, nil, "run", "--model", "absent").oneLineError(t, 1, "absent", "no such directory")
}

func TestRunSpecErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, body string
		want       []string
	}{
		{"malformed.yaml", "generate:\n  prompt: [unclosed\n", []string{"malformed.yaml:", "malformed YAML"}},
		{"unknown.yaml", "modle: x\n", []string{"unknown.yaml:1: unknown key \"modle\""}},
		{"badpass.yaml", "passes: [no_such_pass]\n", []string{"badpass.yaml:1: unknown pass \"no_such_pass\""}},
		{"missingwasm.yaml", "passes:\n  - path: gone.wasm\n", []string{"missingwasm.yaml:2: pass file", "gone.wasm: no such file"}},
		{"badruntime.yaml", "runtime: tpu\n", []string{`unknown runtime "tpu"`}},
		{"missingplugin.yaml", "runtime: ./bin/pipeline-runtime-x\n", []string{"pipeline-runtime-x: no such file"}},
		{"shaplugin.yaml", "runtime: {path: " + cpuPluginBin + ", sha256: " + strings.Repeat("1", 64) + "}\n", []string{"sha256 mismatch"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cli(t, "", nil, "run", write(c.name, c.body)).oneLineError(t, 1, c.want...)
		})
	}
	cli(t, "", nil, "run", filepath.Join(dir, "absent.yaml")).oneLineError(t, 1, "absent.yaml: no such file")
	sum := sha256Of(t, cpuPluginBin)
	r := cli(t, "", nil, "run", write("goodsha.yaml", "runtime: {path: "+cpuPluginBin+", sha256: "+sum+"}\ngenerate: {prompt: Blessed are the, max_new_tokens: 4}\n")).mustSucceed(t)
	if !strings.Contains(r.stderr, "pipeline-runtime-cpu") && !strings.Contains(r.stderr, "runtime  cpu (plugin, path") {
		t.Errorf("report: %s", r.stderr)
	}
}

func sha256Of(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Skip("sha256sum not available")
	}
	return strings.Fields(string(out))[0]
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"generate", "--no-such-flag"},
		{"generate"},
		{"generate", "--ids", "1,x"},
		{"generate", "--ids", "1", "--prompt", "a"},
		{"generate", "--prompt", "a", "--runtime", "CUDA!"},
		{"generate", "--prompt", "a", "--max-new-tokens", "0"},
		{"inspect", "--json", "--dot"},
		{"inspect", "--on-error", "ignore"},
		{"run", "a.yaml", "b.yaml"},
		{"version", "extra"},
		{"plugin", "serve"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cli(t, "", nil, args...).oneLineError(t, 2)
		})
	}
}

type inspectOut struct {
	Nodes  *int           `json:"nodes"`
	Ops    map[string]int `json:"ops"`
	Passes []struct {
		Name    *string `json:"name"`
		Matches *int    `json:"matches"`
		Error   *string `json:"error"`
	} `json:"passes"`
}

func TestInspect(t *testing.T) {
	r := cli(t, "", nil, "inspect", "--model", fixtureDir("qwen3-tiny"), "--json").mustSucceed(t)
	var in inspectOut
	decodeJSON(t, r.stdout, &in)
	if in.Nodes == nil || *in.Nodes == 0 || in.Ops["MatMul"] == 0 || in.Passes == nil || len(in.Passes) != 0 {
		t.Fatalf("inspect %+v", in)
	}
	total := 0
	for _, n := range in.Ops {
		total += n
	}
	if total != *in.Nodes {
		t.Errorf("ops add up to %d, nodes %d", total, *in.Nodes)
	}
	r = cli(t, "", nil, "inspect", "--model", fixtureDir("qwen3-tiny")).mustSucceed(t)
	if !strings.Contains(r.stdout, "Qwen3ForCausalLM") || !strings.Contains(r.stdout, "MatMul") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	r = cli(t, "", nil, "inspect", "--model", fixtureDir("qwen3-tiny"), "--dot").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "digraph ") {
		t.Errorf("dot output starts %q", r.stdout[:min(len(r.stdout), 40)])
	}
	// --svg without Graphviz: a clear error.
	cli(t, "", []string{"PATH=" + t.TempDir()}, "inspect", "--model", fixtureDir("qwen3-tiny"), "--svg").
		oneLineError(t, 1, "--svg needs Graphviz's dot command")
}

// TestInspectFailingPass: a pass module that is not WebAssembly fails with
// one line naming the file and the reason; with --on-error skip the pass is
// reported and the rest goes on.
func TestInspectFailingPass(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "broken.wasm")
	if err := os.WriteFile(bad, []byte("\x00asm garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli(t, "", nil, "inspect", "--model", fixtureDir("qwen3-tiny"), "--pass", bad).oneLineError(t, 1, bad, "invalid module")
	r := cli(t, "", nil, "inspect", "--model", fixtureDir("qwen3-tiny"), "--pass", bad, "--on-error", "skip", "--json").mustSucceed(t)
	var in inspectOut
	decodeJSON(t, r.stdout, &in)
	if len(in.Passes) != 1 || in.Passes[0].Error == nil || !strings.Contains(*in.Passes[0].Error, "invalid module") || in.Passes[0].Matches == nil {
		t.Fatalf("passes %+v", in.Passes)
	}
}

func TestPluginList(t *testing.T) {
	r := cli(t, "", nil, "plugin", "list", "cpu", "tpu").mustSucceed(t)
	if !strings.Contains(r.stdout, "cpu      embedded") || !strings.Contains(r.stdout, `unknown runtime "tpu"`) {
		t.Errorf("plugin list:\n%s", r.stdout)
	}
	r = cli(t, "", []string{"GRAPHPASS_PLUGIN_DIR=" + filepath.Dir(cpuPluginBin)}, "plugin", "list", "cpu").mustSucceed(t)
	if !strings.Contains(r.stdout, "$GRAPHPASS_PLUGIN_DIR") || !strings.Contains(r.stdout, cpuPluginBin) {
		t.Errorf("plugin list with $GRAPHPASS_PLUGIN_DIR:\n%s", r.stdout)
	}
	// Run by hand, a plugin explains itself and fails.
	out, err := exec.Command(cpuPluginBin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("running the plugin by hand: %v %s", err, out)
	}
}

func TestVerifyAndDiff(t *testing.T) {
	r := cli(t, "", nil, "verify", "--model", fixtureDir("llama-tiny-llama3rope"), "--steps", "2", "--json").mustSucceed(t)
	var v struct {
		OK       bool `json:"ok"`
		EndToEnd struct {
			Steps  []any   `json:"steps"`
			RelErr float64 `json:"rel_err"`
		} `json:"end_to_end"`
	}
	decodeJSON(t, r.stdout, &v)
	if !v.OK || len(v.EndToEnd.Steps) != 3 || v.EndToEnd.RelErr > 1e-4 {
		t.Fatalf("verify %+v", v)
	}
	r = cli(t, "", nil, "diff", "--model", fixtureDir("qwen3-tiny"), "--json").mustSucceed(t)
	var d struct {
		NodesBefore int `json:"nodes_before"`
		NodesAfter  int `json:"nodes_after"`
		Passes      []struct {
			Name        string `json:"name"`
			NodesBefore int    `json:"nodes_before"`
			NodesAfter  int    `json:"nodes_after"`
		} `json:"passes"`
	}
	decodeJSON(t, r.stdout, &d)
	if d.NodesBefore == 0 {
		t.Fatalf("diff %+v", d)
	}
	prev := d.NodesBefore
	for _, p := range d.Passes {
		if p.NodesBefore != prev {
			t.Errorf("pass %s starts at %d nodes, previous ended at %d", p.Name, p.NodesBefore, prev)
		}
		prev = p.NodesAfter
	}
	if prev != d.NodesAfter {
		t.Errorf("passes end at %d nodes, diff says %d", prev, d.NodesAfter)
	}
}

// TestVerifyQuantized: a pipeline with the (lossy) quantize pass verifies,
// every rewrite numerically and end to end, against the model with the
// quantized weights dequantized.
func TestVerifyQuantized(t *testing.T) {
	r := cli(t, "", nil, "verify", "--pipeline", "../../examples/quantize.yaml", "--steps", "2", "--json").mustSucceed(t)
	var v struct {
		OK          bool     `json:"ok"`
		Dequantized []string `json:"dequantized"`
		EndToEnd    struct {
			RelErr float64 `json:"rel_err"`
		} `json:"end_to_end"`
	}
	decodeJSON(t, r.stdout, &v)
	if !v.OK || len(v.Dequantized) == 0 || v.EndToEnd.RelErr > 1e-4 {
		t.Fatalf("verify %+v", v)
	}
}

// bench --op-times and --cpu-profile: the per-op breakdown in the JSON,
// a Go profile written, and an unwritable profile path as a one-line
// error.
func TestBenchOpTimesAndProfile(t *testing.T) {
	work, prof := t.TempDir(), filepath.Join(t.TempDir(), "cpu.pprof")
	common := []string{"bench", "--synthetic", "qwen3-tiny", "--prompt-tokens", "4", "--new-tokens", "3",
		"--skip-unfused", "--quiet", "--work-dir", work}
	r := cli(t, "", nil, append(common, "--json", "--op-times", "--cpu-profile", prof)...).mustSucceed(t)
	var res struct {
		Ops map[string]float64 `json:"decode_op_ms_per_token"`
	}
	decodeJSON(t, r.stdout, &res)
	if res.Ops["MatMul"] <= 0 {
		t.Errorf("no MatMul time in decode_op_ms_per_token: %v", res.Ops)
	}
	b, err := os.ReadFile(prof)
	if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("--cpu-profile wrote no gzipped profile (%d bytes, %v)", len(b), err)
	}
	text := cli(t, "", nil, append(common, "--op-times")...).mustSucceed(t)
	if !strings.Contains(text.stdout, "decode ms per token by op: ") {
		t.Errorf("text output lacks the op breakdown:\n%s", text.stdout)
	}
	cli(t, "", nil, append(common, "--cpu-profile", t.TempDir())...).oneLineError(t, 1, "--cpu-profile")
}
