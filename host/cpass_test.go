package host_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestSecondLanguageCPass runs the dropout pass written in C (no libc, no
// WASI; abi/conformance/c) and checks its result equals the Go pass's.
func TestSecondLanguageCPass(t *testing.T) {
	h := newHost(t)
	c := load(t, h, filepath.Join("..", "..", "abi", "conformance", "c", "dropout.wasm"))
	if info := c.Info(); info.Name != "dropout_c" || len(info.Consumes) != 1 || info.Consumes[0] != "Dropout" {
		t.Errorf("info %+v", info)
	}
	goPass := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	fromC, err := c.Exec(context.Background(), g, "")
	if err != nil {
		t.Fatal(err)
	}
	fromGo, err := goPass.Exec(context.Background(), g, "")
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, g, before)
	if len(fromC.Patch.Rewrites) != 2 {
		t.Fatalf("%d rewrites", len(fromC.Patch.Rewrites))
	}
	if !bytes.Equal(snapshot(fromC.Graph), snapshot(fromGo.Graph)) {
		t.Error("the C and Go passes produce different graphs")
	}
	if len(fromC.Notes) != 1 || fromC.Notes[0].Node != "drop1" {
		t.Errorf("notes %+v", fromC.Notes)
	}
	if len(fromC.Log) != 1 || fromC.Log[0] != "info: dropout_c: rewrites done" {
		t.Errorf("log %q", fromC.Log)
	}
	// Nothing to do: an empty response.
	patch, _, err := c.Run(context.Background(), fromC.Graph, "")
	if err != nil || len(patch.Rewrites) != 0 {
		t.Fatalf("second run: %v %v", patch, err)
	}
}
