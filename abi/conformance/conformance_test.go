package conformance_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/abi/conformance"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

func newHost(t *testing.T) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), host.NewConfig().WithCompilationCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func TestGraphsVerify(t *testing.T) {
	for _, s := range conformance.Graphs() {
		if err := graph.Verify(s.Graph); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
}

func TestModules(t *testing.T) {
	tests := []struct {
		file string
		// advisory checks expected to warn
		warn []string
	}{
		{filepath.Join("c", "dropout.wasm"), []string{"rejects unknown options"}},
		{filepath.Join("..", "..", "host", "testdata", "noop.wasm"), []string{"version", "rejects unknown options"}},
	}
	h := newHost(t)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			rs, err := conformance.Check(context.Background(), h, host.Module{Path: tt.file})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				t.Log(r)
			}
			if conformance.Failed(rs) {
				t.Fatal("conformance failed")
			}
			var warned []string
			for _, r := range rs {
				if r.Err != nil {
					warned = append(warned, r.Check)
				}
			}
			if len(warned) != len(tt.warn) {
				t.Fatalf("warnings %q, want %q", warned, tt.warn)
			}
			for i := range warned {
				if !strings.HasSuffix(warned[i], tt.warn[i]) {
					t.Errorf("warning %q, want …%q", warned[i], tt.warn[i])
				}
			}
		})
	}
}

// TestDetectsFailures: a module that fails on some graphs fails the kit.
func TestDetectsFailures(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"missing_run.wasm", "run_loop.wasm"} {
		t.Run(name, func(t *testing.T) {
			hh := h
			if name == "run_loop.wasm" {
				var err error
				hh, err = host.New(context.Background(), host.NewConfig().WithCompilationCacheDir(t.TempDir()).WithCallTimeout(200e6))
				if err != nil {
					t.Fatal(err)
				}
				defer hh.Close(context.Background())
			}
			rs, _ := conformance.Check(context.Background(), hh, host.Module{Path: filepath.Join("..", "..", "host", "testdata", name)})
			if !conformance.Failed(rs) {
				t.Fatalf("passed: %v", rs)
			}
		})
	}
}
