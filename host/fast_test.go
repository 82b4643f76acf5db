package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

// withoutDropout is testGraph with its Dropouts bypassed: nothing for the
// test pass (consumes: Dropout) to do.
func withoutDropout(t *testing.T) *graph.Graph {
	t.Helper()
	g := testGraph()
	p := &graph.Patch{Rewrites: []graph.Rewrite{
		{RemoveNodes: []string{"drop1"}, Remaps: []graph.Remap{{From: "b", To: "a"}}},
		{RemoveNodes: []string{"drop2"}, Remaps: []graph.Remap{{From: "y", To: "d"}}},
	}}
	out, err := graph.Apply(g, p)
	if err != nil {
		t.Fatal(err)
	}
	if out.OpCounts()["Dropout"] != 0 {
		t.Fatal("Dropout left")
	}
	return out
}

func TestRunnerSkipsUntriggeredPass(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	noop := load(t, h, "noop.wasm") // consumes nothing: always runs
	g := withoutDropout(t)
	if ok, why := tp.Triggered(g); ok || why != "no Dropout node in the graph" {
		t.Fatalf("Triggered = %v, %q", ok, why)
	}
	if ok, _ := tp.Triggered(testGraph()); !ok {
		t.Fatal("not triggered by a graph with Dropout")
	}
	_, reports, err := host.Run(context.Background(), g, []host.Step{{Pass: tp}, {Pass: noop}})
	if err != nil {
		t.Fatal(err)
	}
	r := reports[0]
	if !r.Skipped || r.SkipReason != "no Dropout node in the graph" || r.Err != nil || r.Matches != 0 ||
		len(r.Log) != 0 || r.NodesAfter != r.NodesBefore {
		t.Errorf("untriggered step: %+v", r)
	}
	if reports[1].Skipped {
		t.Errorf("noop skipped: %+v", reports[1])
	}
	// RunUntriggered runs it anyway: the pass logs, and finds nothing.
	_, reports, err = (&host.Runner{RunUntriggered: true}).Run(context.Background(), g, []host.Step{{Pass: tp}})
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; r.Skipped || r.Matches != 0 || len(r.Log) == 0 {
		t.Errorf("forced step: %+v", r)
	}
}

// TestRunnerSkipsOnceTheTriggerIsGone: the second dropout step sees the
// graph the first one rewrote, which has no Dropout left.
func TestRunnerSkipsOnceTheTriggerIsGone(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	_, reports, err := host.Run(context.Background(), testGraph(), []host.Step{{Pass: tp}, {Pass: tp}})
	if err != nil {
		t.Fatal(err)
	}
	if reports[0].Skipped || reports[0].Matches != 2 || !reports[1].Skipped {
		t.Errorf("reports %+v", reports)
	}
}

func TestErrorSkipHasAReason(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	_, reports, err := host.Run(context.Background(), testGraph(), []host.Step{{Pass: tp, Options: `{"mode":"panic"}`, OnError: host.Skip}})
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; !r.Skipped || r.Err == nil || r.SkipReason != "failed (on_error: skip)" {
		t.Errorf("report %+v", r)
	}
}

// TestTrustedModule: a trusted module runs, in its own runtime, with the
// same results; a trusted module must come with its bytes.
func TestTrustedModule(t *testing.T) {
	h := newHost(t)
	gz, err := os.ReadFile(testdata("testpass.wasm.gz"))
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := h.Load(context.Background(), host.Module{Path: "builtin:testpass", Wasm: gz, Trusted: true})
	if err != nil {
		t.Fatal(err)
	}
	if !trusted.Trusted() || trusted.Name() != "testpass" {
		t.Errorf("trusted %v name %q", trusted.Trusted(), trusted.Name())
	}
	plain := load(t, h, "testpass.wasm.gz")
	if plain.Trusted() || plain.SHA256() != trusted.SHA256() {
		t.Errorf("plain: trusted %v, sha %s vs %s", plain.Trusted(), plain.SHA256(), trusted.SHA256())
	}
	a, _, err := trusted.Run(context.Background(), testGraph(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := plain.Run(context.Background(), testGraph(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Rewrites) != 2 || !strings.EqualFold(strings.Join(a.Rewrites[0].RemoveNodes, ","), strings.Join(b.Rewrites[0].RemoveNodes, ",")) {
		t.Errorf("trusted %+v, plain %+v", a, b)
	}
	// A trusted pass keeps the memory limit.
	_, _, err = trusted.Run(context.Background(), testGraph(), `{"mode":"grow"}`)
	if !errors.Is(err, host.ErrMemoryLimit) {
		t.Errorf("grow: %v", err)
	}
	_, err = h.Load(context.Background(), host.Module{Path: testdata("noop.wasm"), Trusted: true})
	if !errors.Is(err, host.ErrInvalidModule) || !strings.Contains(err.Error(), "must come with its bytes") {
		t.Errorf("trusted file: %v", err)
	}
}

// TestTrustDoesNotLeak: compiling a module as trusted (without loop
// checks) first must not let the same bytes, loaded untrusted, escape the
// deadline.
func TestTrustDoesNotLeak(t *testing.T) {
	dir := t.TempDir() // the disk cache both loads share
	h := newHost(t, func(c host.Config) host.Config {
		return c.WithCompilationCacheDir(dir).WithCallTimeout(300 * time.Millisecond)
	})
	b, err := os.ReadFile(testdata("run_loop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(context.Background(), host.Module{Path: "loop", Wasm: b, Trusted: true}); err != nil {
		t.Fatal(err)
	}
	for _, hh := range []*host.Host{h, newHost(t, func(c host.Config) host.Config {
		return c.WithCompilationCacheDir(dir).WithCallTimeout(300 * time.Millisecond)
	})} {
		p, err := hh.Load(context.Background(), host.Module{Path: "loop", Wasm: b})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, _, err = p.Run(context.Background(), testGraph(), "")
		if !errors.Is(err, host.ErrDeadline) || time.Since(start) > 10*time.Second {
			t.Fatalf("untrusted loop: %v after %s", err, time.Since(start))
		}
	}
}

// TestGzipModules: .wasm.gz files and gzip-compressed bytes load like the
// module inside; a pin may name the module or the compressed file.
func TestGzipModules(t *testing.T) {
	h := newHost(t)
	wasm, err := os.ReadFile(testdata("noop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	gz := host.Gzip(wasm)
	if !host.IsGzip(gz) || host.IsGzip(wasm) {
		t.Fatal("IsGzip")
	}
	if again := host.Gzip(wasm); string(again) != string(gz) {
		t.Fatal("Gzip is not deterministic")
	}
	path := t.TempDir() + "/noop.wasm.gz"
	if err := os.WriteFile(path, gz, 0o644); err != nil {
		t.Fatal(err)
	}
	sumWasm := sha256.Sum256(wasm)
	sumGz := sha256.Sum256(gz)
	for _, pin := range []string{"", hex.EncodeToString(sumWasm[:]), hex.EncodeToString(sumGz[:])} {
		p, err := h.Load(context.Background(), host.Module{Path: path, SHA256: pin})
		if err != nil {
			t.Fatalf("pin %q: %v", pin, err)
		}
		if p.Name() != "noop" || p.SHA256() != hex.EncodeToString(sumWasm[:]) {
			t.Errorf("name %q sha %s", p.Name(), p.SHA256())
		}
	}
	if _, err := h.Load(context.Background(), host.Module{Path: path, SHA256: strings.Repeat("ab", 32)}); !errors.Is(err, host.ErrPinMismatch) {
		t.Errorf("wrong pin: %v", err)
	}
	if p, err := h.Load(context.Background(), host.Module{Wasm: gz}); err != nil || p.Name() != "noop" {
		t.Errorf("bytes: %v", err)
	}
}

// TestRunnerRunsUntriggeredPassWithOptions: options are checked by running
// the pass, so a step with options is never skipped.
func TestRunnerRunsUntriggeredPassWithOptions(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	_, reports, err := host.Run(context.Background(), withoutDropout(t), []host.Step{{Pass: tp, Options: `{"mode":"error"}`, OnError: host.Skip}})
	if err != nil {
		t.Fatal(err)
	}
	if r := reports[0]; !r.Skipped || r.Err == nil || !strings.Contains(r.Error, "mode error was asked for") {
		t.Errorf("report %+v", r)
	}
}

// TestRunnerStepDone: the hook sees every step, in order, with the graph
// after it.
func TestRunnerStepDone(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	noop := load(t, h, "noop.wasm")
	var seen []string
	r := &host.Runner{StepDone: func(i int, rep host.Report, g *graph.Graph) {
		seen = append(seen, fmt.Sprintf("%d %s %v %d", i, rep.Pass, rep.Skipped, g.OpCounts()["Dropout"]))
	}}
	if _, _, err := r.Run(context.Background(), testGraph(), []host.Step{{Pass: noop}, {Pass: tp}, {Pass: tp}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, "; "); got != "0 noop false 2; 1 testpass false 0; 2 testpass true 0" {
		t.Errorf("StepDone saw %s", got)
	}
}

// TestTrustedAfterClose: a closed host refuses trusted modules too,
// without panicking.
func TestTrustedAfterClose(t *testing.T) {
	h, err := host.New(context.Background(), host.NewConfig().WithCompilationCacheDir(""))
	if err != nil {
		t.Fatal(err)
	}
	h.Close(context.Background())
	wasm, err := os.ReadFile(testdata("noop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load(context.Background(), host.Module{Path: "x", Wasm: wasm, Trusted: true}); err == nil {
		t.Fatal("a closed host loaded a trusted module")
	}
}
