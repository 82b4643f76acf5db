package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/host"
)

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"passes/b/wasm", "passes/a/wasm", "passes/internal/x"} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	all, err := discover(root, nil)
	if err != nil || len(all) != 2 || all[0].name != "a" || all[1].pkg != "./passes/b/wasm" ||
		all[1].out != filepath.Join(root, "passes", "b", "b.wasm.gz") || all[1].stale != filepath.Join(root, "passes", "b", "b.wasm") {
		t.Fatalf("discover = %+v, %v", all, err)
	}
	if one, err := discover(root, []string{"b"}); err != nil || len(one) != 1 || one[0].name != "b" {
		t.Errorf("discover(b) = %+v, %v", one, err)
	}
	if _, err := discover(root, []string{"c"}); err == nil || !strings.Contains(err.Error(), `no pass "c" (have a, b)`) {
		t.Errorf("unknown pass: %v", err)
	}
}

// The committed modules are what the sources build (CI's check). Slow:
// it builds every module, so only without -short.
func TestCommittedModulesAreCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every pass module")
	}
	if os.Getenv("GRAPHPASS_CHECK_MODULES") == "" {
		t.Skip("set GRAPHPASS_CHECK_MODULES=1 (CI runs `go run ./internal/cmd/passbuild -check`)")
	}
	if err := run("../../..", nil, true, false, 2); err != nil {
		t.Fatal(err)
	}
}

func TestCheckCommitted(t *testing.T) {
	dir := t.TempDir()
	p := pass{name: "x", out: filepath.Join(dir, "x.wasm.gz"), stale: filepath.Join(dir, "x.wasm")}
	data := []byte("\x00asm\x01\x00\x00\x00 pretend module")
	gz := host.Gzip(data)
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if msg := checkCommitted(p, data, gz); !strings.Contains(msg, "committed module missing") {
		t.Errorf("missing: %q", msg)
	}
	write(p.out, gz)
	if msg := checkCommitted(p, data, gz); msg != "" {
		t.Errorf("current: %q", msg)
	}
	// The same module compressed differently is current.
	var other bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&other, gzip.BestSpeed)
	zw.Write(data)
	zw.Close()
	write(p.out, other.Bytes())
	if msg := checkCommitted(p, data, gz); msg != "" {
		t.Errorf("recompressed: %q", msg)
	}
	write(p.out, host.Gzip([]byte("\x00asm\x01\x00\x00\x00 older module")))
	if msg := checkCommitted(p, data, gz); !strings.Contains(msg, "differs from a fresh build") {
		t.Errorf("stale: %q", msg)
	}
	write(p.out, []byte("not gzip"))
	if msg := checkCommitted(p, data, gz); !strings.Contains(msg, "gzip") {
		t.Errorf("corrupt: %q", msg)
	}
	write(p.out, gz)
	write(p.stale, data)
	if msg := checkCommitted(p, data, gz); !strings.Contains(msg, "uncompressed") {
		t.Errorf("leftover .wasm: %q", msg)
	}
}
