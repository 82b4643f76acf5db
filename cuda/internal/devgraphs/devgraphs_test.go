// Package devgraphs writes the rewritten graphs the device tests run
// (package e2e): the reference fixtures and the synthetic benchmark models
// after the default passes. Run with GRAPHPASS_DEVGRAPHS=<dir>.
package devgraphs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/cuda/internal/graphfile"
	"github.com/graphpass/graphpass/gpu/gputest/fixture"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/pipeline"
)

func prepare(t *testing.T, dir string) *pipeline.Prepared {
	spec := &pipeline.Spec{Model: dir, Passes: []pipeline.PassSpec{{Defaults: true}}, Runtime: pipeline.RuntimeSpec{Name: pipeline.InprocName}}
	prep, err := pipeline.Prepare(context.Background(), spec, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := prep.Materialize(); err != nil {
		t.Fatal(err)
	}
	return prep
}

func TestGenerate(t *testing.T) {
	out := os.Getenv("GRAPHPASS_DEVGRAPHS")
	if out == "" {
		t.Skip("set GRAPHPASS_DEVGRAPHS=<dir>")
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	for _, f := range fixture.Fixtures {
		prep := prepare(t, filepath.Join(root, "testdata", "fixtures", f))
		t.Logf("%s: %v", f, prep.Graph.OpCounts())
		if err := graphfile.Save(filepath.Join(out, "fixture-"+f+".gob.gz"), prep.Graph, root); err != nil {
			t.Fatal(err)
		}
		prep.Close()
	}
	for _, name := range strings.Split(os.Getenv("GRAPHPASS_DEVGRAPHS_BENCH"), ",") {
		if name == "" {
			continue
		}
		dir := t.TempDir()
		cfg, err := model.Synthetic(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := model.WriteSynthetic(dir, cfg, 1); err != nil {
			t.Fatal(err)
		}
		prep := prepare(t, dir)
		t.Logf("%s: %v", name, prep.Graph.OpCounts())
		if err := graphfile.Save(filepath.Join(out, "bench-"+name+".gob.gz"), prep.Graph, dir); err != nil {
			t.Fatal(err)
		}
		prep.Close()
	}
}
