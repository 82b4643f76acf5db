package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/graphpass/graphpass/cuda"
	"github.com/graphpass/graphpass/cuda/internal/graphfile"
	"github.com/graphpass/graphpass/model"
)

// TestProfile runs cuda.ProfileDecode on the synthetic models in
// GRAPHPASS_PROFILE (e.g. qwen3-0.6b,qwen3-0.6b-4bit), rewritten by package
// devgraphs, with the unfused and fused plans, PDL off and on.
// `pipeline selftest --profile` does the same through the CLI.
func TestProfile(t *testing.T) {
	models := os.Getenv("GRAPHPASS_PROFILE")
	if models == "" {
		t.Skip("set GRAPHPASS_PROFILE=qwen3-0.6b,qwen3-0.6b-4bit to run")
	}
	if err := cuda.Available(); err != nil {
		t.Skip(err)
	}
	d, err := cuda.Open(cuda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	gdir := graphsDir(t)
	for _, name := range splitComma(models) {
		dir := t.TempDir()
		cfg, err := model.Synthetic(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := model.WriteSynthetic(dir, cfg, 1); err != nil {
			t.Fatal(err)
		}
		g, err := graphfile.Load(filepath.Join(gdir, "bench-"+name+".gob.gz"), dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name, fuse string
			pdl        bool
		}{{"unfused", "0", false}, {"fused", "1", false}, {"fused+pdl", "1", true}} {
			t.Setenv("GRAPHPASS_GPU_FUSE", c.fuse)
			if d.SetPDL(c.pdl) != c.pdl {
				continue
			}
			p, err := cuda.ProfileDecode(context.Background(), d, g, 512, 96)
			if err != nil {
				t.Fatalf("%s %s: %v", name, c.name, err)
			}
			b, _ := json.Marshal(p)
			fmt.Printf("PROFILE %s %s %s\n", name, c.name, b)
		}
	}
}
