package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

func TestLoadReportsInfo(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	info := p.Info()
	if info.Name != "testpass" || info.Version != "0.1.0" || info.ABIVersion != abi.Version1 {
		t.Errorf("info = %+v", info)
	}
	if !reflect.DeepEqual(info.Consumes, []string{"Dropout"}) {
		t.Errorf("consumes = %v", info.Consumes)
	}
	if p.Name() != "testpass" || p.ABIVersion() != 1 || p.File() != testdata("testpass.wasm.gz") {
		t.Errorf("name %q version %d file %q", p.Name(), p.ABIVersion(), p.File())
	}
	b, _ := host.TestpassWasm(t)
	sum := sha256.Sum256(b) // of the module, not of its compressed file
	if p.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 %s", p.SHA256())
	}
	// Info returns a copy.
	info.Consumes[0] = "changed"
	if p.Info().Consumes[0] != "Dropout" {
		t.Error("Info exposes internal state")
	}
}

func TestRunDropoutPass(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	res, err := p.Exec(context.Background(), g, "")
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, g, before)
	if n := len(res.Patch.Rewrites); n != 2 {
		t.Fatalf("%d rewrites, want 2", n)
	}
	if c := res.Graph.OpCounts()["Dropout"]; c != 0 {
		t.Errorf("%d Dropout nodes left", c)
	}
	// drop2 fed graph output "y": the name must survive.
	if res.Graph.Output("y") == nil {
		t.Error("graph output y lost")
	}
	if err := graph.Verify(res.Graph); err != nil {
		t.Error(err)
	}
	if len(res.Notes) != 1 || res.Notes[0].Node != "drop1" || !strings.Contains(res.Notes[0].Message, "rate 0.1") {
		t.Errorf("notes = %+v", res.Notes)
	}
	log := strings.Join(res.Log, "\n")
	for _, want := range []string{"info: dropout: 2 rewrites; output y is f32[batch,seq,8]", "stdout: stdout works", "stderr: stderr works"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if res.Timing.Run <= 0 || res.Timing.Encode <= 0 || res.Timing.Apply <= 0 {
		t.Errorf("timing %+v", res.Timing)
	}

	patch, notes, err := p.Run(context.Background(), g, `{"mode": "dropout"}`)
	if err != nil || len(patch.Rewrites) != 2 || len(notes) != 1 {
		t.Fatalf("Run: %v, %v, %v", patch, notes, err)
	}
}

// TestPassSeesTypesNotWeights checks what crosses into the sandbox:
// inline bytes only up to InlineLimit, never a WeightRef, and the type of
// every value.
func TestPassSeesTypesNotWeights(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	_, notes, err := p.Run(context.Background(), g, `{"mode":"inits"}`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range notes {
		got[n.Node] = n.Message
	}
	outputs := 0 // value types are sent for top-level node outputs
	for _, n := range g.Nodes {
		outputs += len(n.Outputs)
	}
	want := map[string]string{
		"w_small":     "data=32 nil=false ref=false derive=false type=f32[8]",
		"w_big":       "data=0 nil=true ref=false derive=false type=" + g.Initializer("w_big").Type.String(),
		"w_ref":       "data=0 nil=true ref=false derive=false type=f32[8]",
		"value_types": strconv.Itoa(outputs),
		"abi_version": "1",
		"options":     `{"mode":"inits"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the pass saw\n%v\nwant\n%v", got, want)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	_, a, err := p.Run(context.Background(), testGraph(), `{"mode":"entropy"}`)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := p.Run(context.Background(), testGraph(), `{"mode":"entropy"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs differ: %v vs %v", a, b)
	}
	if strings.Contains(a[0].Message, "0000000000000000") {
		t.Errorf("random source returns zeros: %v", a[0])
	}
}

func TestInvalidOptions(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	for _, opts := range []string{"[]", "null", `{"a":`, "3"} {
		_, _, err := p.Run(context.Background(), testGraph(), opts)
		if !errors.Is(err, host.ErrInvalidOptions) {
			t.Errorf("options %s: got %v", opts, err)
		}
	}
}

func TestInvalidInputGraph(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	g.Nodes[0].Inputs[0] = "nope"
	_, _, err := p.Run(context.Background(), g, "")
	if !errors.Is(err, host.ErrInvalidGraph) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("got %v", err)
	}
}

func TestPassReportedError(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	_, _, err := p.Run(context.Background(), testGraph(), `{"mode":"error"}`)
	var pe *abi.PassError
	if !errors.Is(err, host.ErrPassReported) || !errors.As(err, &pe) || pe.Code != abi.CodeInvalidOptions {
		t.Fatalf("got %v", err)
	}
	want := `pass "testpass" (testdata/testpass.wasm.gz): pass reported an error: invalid_options: mode error was asked for`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestEmptyResponseIsEmptyPatch(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "noop.wasm")
	patch, notes, err := p.Run(context.Background(), testGraph(), "")
	if err != nil || patch == nil || len(patch.Rewrites) != 0 || len(notes) != 0 {
		t.Fatalf("%v %v %v", patch, notes, err)
	}
}

func TestPinnedModule(t *testing.T) {
	h := newHost(t)
	b, _ := os.ReadFile(testdata("noop.wasm"))
	sum := sha256.Sum256(b)
	if _, err := h.Load(context.Background(), host.Module{Path: testdata("noop.wasm"), SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))}); err != nil {
		t.Fatal(err)
	}
	_, err := h.Load(context.Background(), host.Module{Path: testdata("noop.wasm"), SHA256: strings.Repeat("0", 64)})
	if !errors.Is(err, host.ErrPinMismatch) || !strings.Contains(err.Error(), "noop.wasm") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadAllCompilesInParallel(t *testing.T) {
	h := newHost(t)
	names := []string{"noop.wasm", "testpass.wasm.gz", "fs_escape.wasm", "grow.wasm", "testpass.wasm.gz"}
	var ms []host.Module
	for _, n := range names {
		ms = append(ms, host.Module{Path: testdata(n)})
	}
	passes, err := h.LoadAll(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range passes {
		if p.File() != testdata(names[i]) {
			t.Errorf("pass %d is %s", i, p.File())
		}
	}
	// Errors name every failing module.
	ms = append(ms, host.Module{Path: testdata("missing_run.wasm")}, host.Module{Path: testdata("nonexistent.wasm")})
	_, err = h.LoadAll(context.Background(), ms)
	if err == nil || !strings.Contains(err.Error(), "missing_run.wasm") || !strings.Contains(err.Error(), "nonexistent.wasm") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadBytes(t *testing.T) {
	h := newHost(t)
	b, _ := os.ReadFile(testdata("noop.wasm"))
	p, err := h.Load(context.Background(), host.Module{Wasm: b})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "noop" || p.File() != "<bytes>" {
		t.Errorf("%q %q", p.Name(), p.File())
	}
}

func TestConcurrentRuns(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, _, errs[i] = p.Run(context.Background(), g, "")
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	assertUnchanged(t, g, before)
}

func TestDiskCacheIsFilled(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, func(c host.Config) host.Config { return c.WithCompilationCacheDir(dir) })
	load(t, h, "noop.wasm")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir empty: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := host.NewConfig()
	if c.MemoryLimitPages() != host.DefaultMemoryLimitPages || c.CallTimeout() != host.DefaultCallTimeout ||
		c.OutputLimit() != host.DefaultOutputLimit || c.LogLimit() != host.DefaultLogLimit || c.CompilationCacheDir() != host.DefaultCacheDir() {
		t.Errorf("defaults: %+v", c)
	}
	d := c.WithMemoryLimitPages(10)
	if c.MemoryLimitPages() != host.DefaultMemoryLimitPages || d.MemoryLimitPages() != 10 {
		t.Error("With must return a copy")
	}
	if _, err := host.New(context.Background(), host.Config{}); err == nil {
		t.Error("zero Config accepted")
	}
}

func TestAllowedImports(t *testing.T) {
	imps := host.AllowedImports()
	if imps[0] != "graphpass.log" {
		t.Errorf("first %s", imps[0])
	}
	for _, imp := range imps {
		if strings.Contains(imp, "sock_") {
			t.Errorf("allows %s", imp)
		}
	}
}

// TestNoDeadlineForTrustedModules: WithCallTimeout(0) runs without the
// deadline (and its cost); passes still work.
func TestNoDeadlineForTrustedModules(t *testing.T) {
	h := newHost(t, func(c host.Config) host.Config { return c.WithCallTimeout(0) })
	p := load(t, h, "testpass.wasm.gz")
	patch, _, err := p.Run(context.Background(), testGraph(), "")
	if err != nil || len(patch.Rewrites) != 2 {
		t.Fatalf("%v %v", patch, err)
	}
}
