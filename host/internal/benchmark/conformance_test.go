package benchmark

import (
	"context"
	"os"
	"testing"

	"github.com/graphpass/graphpass/abi/conformance"
	"github.com/graphpass/graphpass/host"
)

// TestBuiltinPassesConform runs the ABI conformance kit over every built
// pass module under passes/.
func TestBuiltinPassesConform(t *testing.T) {
	h, err := host.New(context.Background(), host.NewConfig().WithCompilationCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if testing.Short() {
		t.Skip("compiles every pass module")
	}
	var ms []host.Module
	for _, name := range defaultOrder {
		if _, err := os.Stat(module(name)); err == nil {
			ms = append(ms, host.Module{Path: module(name)})
		}
	}
	if _, err := h.LoadAll(context.Background(), ms); err != nil { // compile in parallel
		t.Fatal(err)
	}
	for _, name := range defaultOrder {
		if _, err := os.Stat(module(name)); err != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			rs, err := conformance.Check(context.Background(), h, host.Module{Path: module(name)})
			for _, r := range rs {
				t.Log(r)
			}
			if err != nil || conformance.Failed(rs) {
				t.Fatal("does not conform")
			}
		})
	}
}
