package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

// Every hostile module must yield an *Error that names the pass and the
// reason on one line, leave the caller's graph exactly as it was, finish
// within the deadline, and leave the Host able to run a good pass.

type hostile struct {
	module  string // file under testdata, or a name for wasm
	wasm    []byte // bytes to load instead of the file
	options string // options for Run; unused when atLoad
	atLoad  bool   // the failure must come from Load
	reason  error
	want    []string // substrings of the message
	cfg     func(host.Config) host.Config
}

func (c hostile) check(t *testing.T) {
	t.Helper()
	var cfgs []func(host.Config) host.Config
	if c.cfg != nil {
		cfgs = append(cfgs, c.cfg)
	}
	h := newHost(t, cfgs...)
	ctx := context.Background()
	g := testGraph()
	before := snapshot(g)
	file := testdata(c.module)
	start := time.Now()
	var err error
	var p *host.Pass
	if c.wasm != nil {
		p, err = h.Load(ctx, host.Module{Path: file, Wasm: c.wasm})
	} else {
		p, err = h.LoadFile(ctx, file)
	}
	if c.atLoad {
		if err == nil {
			t.Fatalf("Load succeeded, want %v", c.reason)
		}
	} else {
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		_, _, err = p.Run(ctx, g, c.options)
	}
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("no error, want %v", c.reason)
	}
	msg := err.Error()
	t.Logf("error: %s", msg)
	if !errors.Is(err, c.reason) {
		t.Errorf("error is not %v", c.reason)
	}
	var he *host.Error
	if !errors.As(err, &he) || he.File != file {
		t.Errorf("error does not name the file %s", file)
	}
	if !strings.HasPrefix(msg, `pass "`) || !strings.Contains(msg, c.reason.Error()) {
		t.Errorf("error does not start with the pass and state the reason %q", c.reason)
	}
	for _, w := range c.want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q", w)
		}
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Error("error spans several lines")
	}
	if limit := testTimeout + 5*time.Second; elapsed > limit {
		t.Errorf("took %s, more than %s", elapsed, limit)
	}
	assertUnchanged(t, g, before)
	hostStillWorks(t, h, g)
	assertUnchanged(t, g, before)
}

func hostStillWorks(t *testing.T, h *host.Host, g *graph.Graph) {
	t.Helper()
	good := load(t, h, "testpass.wasm.gz")
	patch, _, err := good.Run(context.Background(), g, "")
	if err != nil {
		t.Fatalf("host broken after a hostile module: %v", err)
	}
	if len(patch.Rewrites) != 2 {
		t.Fatalf("good pass found %d rewrites, want 2", len(patch.Rewrites))
	}
}

func TestHostile_GarbageBytes(t *testing.T) {
	hostile{module: "garbage.wasm", wasm: []byte("this is not a WebAssembly module"), atLoad: true,
		reason: host.ErrInvalidModule, want: []string{`pass "garbage"`, "not a valid WebAssembly module"}}.check(t)
}

func TestHostile_ZeroByteModule(t *testing.T) {
	hostile{module: "zero.wasm", wasm: []byte{}, atLoad: true, reason: host.ErrInvalidModule}.check(t)
}

func TestHostile_TruncatedModule(t *testing.T) {
	b, gz := host.TestpassWasm(t)
	hostile{module: "truncated.wasm", wasm: b[:len(b)/2], atLoad: true, reason: host.ErrInvalidModule}.check(t)
	hostile{module: "truncated.wasm.gz", wasm: gz[:len(gz)/2], atLoad: true, reason: host.ErrInvalidModule,
		want: []string{"gzip: unexpected EOF"}}.check(t)
}

func TestHostile_GzipNotAModule(t *testing.T) {
	hostile{module: "text.wasm.gz", wasm: host.Gzip([]byte("not wasm")), atLoad: true,
		reason: host.ErrInvalidModule, want: []string{"not a valid WebAssembly module"}}.check(t)
}

func TestHostile_EmptyModule(t *testing.T) {
	hostile{module: "empty.wasm", wasm: []byte("\x00asm\x01\x00\x00\x00"), atLoad: true,
		reason: host.ErrMissingExport, want: []string{"graphpass_abi_v1"}}.check(t)
}

func TestHostile_MissingFile(t *testing.T) {
	hostile{module: "does_not_exist.wasm", atLoad: true, reason: host.ErrInvalidModule, want: []string{"no such file"}}.check(t)
}

func TestHostile_InfiniteLoopInInitialize(t *testing.T) {
	hostile{module: "init_loop.wasm", atLoad: true, reason: host.ErrDeadline,
		want: []string{"_initialize did not return within 500ms"}, cfg: shortDeadline}.check(t)
}

func TestHostile_InfiniteLoopInRun(t *testing.T) {
	hostile{module: "run_loop.wasm", reason: host.ErrDeadline, want: []string{`pass "run_loop"`, "graphpass_run did not return within 500ms"}, cfg: shortDeadline}.check(t)
}

func TestHostile_InfiniteLoopInRunGo(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"loop"}`, reason: host.ErrDeadline, want: []string{"graphpass_run did not return"}, cfg: shortDeadline}.check(t)
}

func shortDeadline(c host.Config) host.Config { return c.WithCallTimeout(500 * time.Millisecond) }

func TestHostile_UnboundedMemoryGrowth(t *testing.T) {
	hostile{module: "grow.wasm", reason: host.ErrMemoryLimit, want: []string{"of 4096 pages", "unreachable"}}.check(t)
}

func TestHostile_UnboundedAllocationGo(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"grow"}`, reason: host.ErrMemoryLimit, want: []string{"of 1024 pages", "fatal error: out of memory"},
		cfg: func(c host.Config) host.Config { return c.WithMemoryLimitPages(1024) }}.check(t)
}

func TestHostile_InitialMemoryOverLimit(t *testing.T) {
	hostile{module: "big_memory.wasm", atLoad: true, reason: host.ErrInvalidModule, want: []string{"8192"}}.check(t)
}

func TestHostile_PanicInRun(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"panic"}`, reason: host.ErrTrap,
		want: []string{"graphpass_run: wasm error: unreachable", "stderr: panic: testpass: boom at github.com/graphpass/graphpass/host/testdata/testpass/main.go:"}}.check(t)
}

func TestHostile_ProcExitInRun(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"exit"}`, reason: host.ErrExit, want: []string{"exited with code 3"}}.check(t)
}

func TestHostile_ForbiddenSocketImport(t *testing.T) {
	hostile{module: "forbidden_import.wasm", atLoad: true, reason: host.ErrForbiddenImport,
		want: []string{"wasi_snapshot_preview1.sock_accept"}}.check(t)
}

func TestHostile_ForbiddenEnvImport(t *testing.T) {
	hostile{module: "env_import.wasm", atLoad: true, reason: host.ErrForbiddenImport, want: []string{"env.abort"}}.check(t)
}

func TestHostile_PatchCreatesCycle(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"cycle"}`, reason: host.ErrPatchRejected, want: []string{"cycle", "cyc_a"}}.check(t)
}

func TestHostile_PatchReadsMissingValue(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"missing"}`, reason: host.ErrPatchRejected, want: []string{"no_such_value"}}.check(t)
}

func TestHostile_PatchChangesOutputDType(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"dtype"}`, reason: host.ErrPatchRejected,
		want: []string{`changes the dtype of graph output "y" from f32 to f16`}}.check(t)
}

func TestHostile_PatchRenamesOutput(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"rename"}`, reason: host.ErrPatchRejected,
		want: []string{`renames graph output "d"`}}.check(t)
}

func TestHostile_ResponseOverOutputLimit(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"huge"}`, reason: host.ErrOutputLimit, want: []string{"limit is 1048576"},
		cfg: func(c host.Config) host.Config { return c.WithOutputLimit(1 << 20) }}.check(t)
}

func TestHostile_OutOfBoundsResultPointer(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"oob"}`, reason: host.ErrMalformed, want: []string{"[0xffff0000, +100)", "out of bounds"}}.check(t)
}

func TestHostile_OutOfBoundsAllocPointer(t *testing.T) {
	hostile{module: "oob_alloc.wasm", reason: host.ErrMalformed, want: []string{"graphpass_alloc", "0xfffffff0", "out of bounds"}}.check(t)
}

func TestHostile_OutOfBoundsInfoPointer(t *testing.T) {
	hostile{module: "oob_info.wasm", atLoad: true, reason: host.ErrMalformed, want: []string{"graphpass_info returned [0xffff0000, +100)"}}.check(t)
}

func TestHostile_GarbageResponse(t *testing.T) {
	hostile{module: "testpass.wasm.gz", options: `{"mode":"garbage"}`, reason: host.ErrMalformed, want: []string{"abi: malformed RunResponse"}}.check(t)
	h := newHost(t)
	_, _, err := load(t, h, "testpass.wasm.gz").Run(context.Background(), testGraph(), `{"mode":"garbage"}`)
	if !errors.Is(err, abi.ErrMalformed) {
		t.Errorf("%v does not wrap abi.ErrMalformed", err)
	}
}

func TestHostile_MissingRunExport(t *testing.T) {
	hostile{module: "missing_run.wasm", atLoad: true, reason: host.ErrMissingExport, want: []string{"export graphpass_run is missing"}}.check(t)
}

func TestHostile_MissingMemoryExport(t *testing.T) {
	hostile{module: "no_memory.wasm", atLoad: true, reason: host.ErrMissingExport, want: []string{"export memory"}}.check(t)
}

func TestHostile_WrongABIMarker(t *testing.T) {
	hostile{module: "wrong_marker.wasm", atLoad: true, reason: host.ErrABIMismatch,
		want: []string{"module exports graphpass_abi_v2; this host speaks only graphpass_abi_v1"}}.check(t)
}

func TestHostile_WrongExportSignature(t *testing.T) {
	hostile{module: "wrong_signature.wasm", atLoad: true, reason: host.ErrABIMismatch,
		want: []string{"export graphpass_run has type (i32, i32) -> (i32), want (i32, i32) -> (i64)"}}.check(t)
}

func TestHostile_InfoClaimsOtherABIVersion(t *testing.T) {
	hostile{module: "info_v2.wasm", atLoad: true, reason: host.ErrABIMismatch, want: []string{"abi_version 2"}}.check(t)
}

func TestHostile_CommandInsteadOfReactor(t *testing.T) {
	hostile{module: "command.wasm", atLoad: true, reason: host.ErrABIMismatch, want: []string{"_start", "reactor"}}.check(t)
}

// TestHostile_ReadsHostFileThroughWASI: the raw WASI calls find no
// preopened directory and no readable descriptor.
func TestHostile_ReadsHostFileThroughWASI(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "fs_escape.wasm")
	patch, notes, err := p.Run(context.Background(), testGraph(), "")
	if err != nil {
		t.Fatalf("the module reports %v", err)
	}
	if len(patch.Rewrites) != 0 || len(notes) != 1 || notes[0].Message != "denied" {
		t.Fatalf("notes %v", notes)
	}
	hostStillWorks(t, h, testGraph())
}

// TestHostile_ReadsHostFileThroughGoOS: os.ReadFile, os.Getenv and os.Args
// inside a Go pass see nothing of the host.
func TestHostile_ReadsHostFileThroughGoOS(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "testpass.wasm.gz")
	_, notes, err := p.Run(context.Background(), testGraph(), `{"mode":"readfile"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 7 {
		t.Fatalf("notes %v", notes)
	}
	for _, n := range notes[:4] {
		if !strings.HasPrefix(n.Message, "read 0 bytes, err: ") || strings.HasSuffix(n.Message, "<nil>") {
			t.Errorf("%s: %s", n.Node, n.Message)
		}
	}
	for _, n := range notes[4:6] {
		if n.Message != "env=" {
			t.Errorf("%s: %s", n.Node, n.Message)
		}
	}
	if notes[6].Message != "0" {
		t.Errorf("args: %s", notes[6].Message)
	}
}

// TestHostile_LogFlood: a pass writing megabytes to stdout, stderr and the
// log gets LogLimit bytes kept and the rest counted.
func TestHostile_LogFlood(t *testing.T) {
	h := newHost(t, func(c host.Config) host.Config { return c.WithLogLimit(10 << 10) })
	p := load(t, h, "testpass.wasm.gz")
	res, err := p.Exec(context.Background(), testGraph(), `{"mode":"chatty"}`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, l := range res.Log {
		total += len(l)
	}
	if total > 11<<10 {
		t.Errorf("kept %d bytes of log", total)
	}
	last := res.Log[len(res.Log)-1]
	if !strings.HasPrefix(last, "host: ") || !strings.Contains(last, "more bytes of log dropped (limit 10240)") {
		t.Errorf("last line %q", last)
	}
}

func TestHostile_LogWithBadPointers(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "bad_log.wasm")
	res, err := p.Exec(context.Background(), testGraph(), "")
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Join(res.Log, "\n")
	if !strings.Contains(log, "out of bounds of memory") || !strings.Contains(log, "level7: ") {
		t.Errorf("log:\n%s", log)
	}
	hostStillWorks(t, h, testGraph())
}

// TestCallerCancellation: a cancelled context is the caller's doing and is
// reported as such, not as the pass's failure.
func TestCallerCancellation(t *testing.T) {
	h := newHost(t)
	p := load(t, h, "run_loop.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err := p.Run(ctx, testGraph(), "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	hostStillWorks(t, h, testGraph())
}
