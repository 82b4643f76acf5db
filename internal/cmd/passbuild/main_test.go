package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
