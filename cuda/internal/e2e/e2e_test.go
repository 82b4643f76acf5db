package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/cuda"
	"github.com/graphpass/graphpass/cuda/internal/graphfile"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/gpu/gpubench"
	"github.com/graphpass/graphpass/gpu/gputest/fixture"
	"github.com/graphpass/graphpass/model"
)

var (
	once  sync.Once
	rt    *gpu.Runtime
	dev   *cuda.Device
	rtErr error
)

func runtimeOrSkip(t *testing.T) (*gpu.Runtime, *cuda.Device) {
	t.Helper()
	once.Do(func() {
		if rtErr = cuda.Available(); rtErr != nil {
			return
		}
		if dev, rtErr = cuda.Open(cuda.Options{}); rtErr == nil {
			rt = gpu.NewRuntime(dev, dev.CompileMillis())
		}
	})
	if rtErr != nil {
		if os.Getenv("GRAPHPASS_REQUIRE_GPU") != "" {
			t.Fatalf("no usable CUDA GPU: %v", rtErr)
		}
		t.Skipf("no usable CUDA GPU: %v", rtErr)
	}
	return rt, dev
}

func repoRoot() string {
	if d := os.Getenv("GRAPHPASS_REPO"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..")
}

func graphsDir(t *testing.T) string {
	d := os.Getenv("GRAPHPASS_DEVGRAPHS")
	if d == "" {
		t.Skip("set GRAPHPASS_DEVGRAPHS to the graphs written by package devgraphs")
	}
	return d
}

// TestFixtures: logits and greedy ids of the reference checkpoints, from
// graphs rewritten by the default passes (package devgraphs).
func TestFixtures(t *testing.T) {
	r, _ := runtimeOrSkip(t)
	dir := graphsDir(t)
	for _, f := range fixture.Fixtures {
		t.Run(f, func(t *testing.T) {
			g, err := graphfile.Load(filepath.Join(dir, "fixture-"+f+".gob.gz"), repoRoot())
			if err != nil {
				t.Fatal(err)
			}
			res := fixture.Check(context.Background(), r, g, filepath.Join(repoRoot(), "testdata", "fixtures", f))
			fmt.Printf("FIXTURE %-24s logits rel err %.2e ids %v err %v\n", f, res.LogitsErr, res.Got, res.Err)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		})
	}
}

// TestBench measures the synthetic models named in GRAPHPASS_BENCH (comma
// separated, e.g. qwen3-0.6b,qwen3-0.6b-4bit): it writes the checkpoint
// with the same seed as package devgraphs did and runs its rewritten graph.
func TestBench(t *testing.T) {
	models := os.Getenv("GRAPHPASS_BENCH")
	if models == "" {
		t.Skip("set GRAPHPASS_BENCH=qwen3-0.6b,qwen3-0.6b-4bit to run")
	}
	r, d := runtimeOrSkip(t)
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
		res, err := gpubench.Measure(context.Background(), r, g, gpubench.Options{
			Model: name, PromptTokens: 512, NewTokens: 256,
			Bandwidth: func() (float64, error) { return d.CopyBandwidth(1<<30, 10) },
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := json.Marshal(res)
		fmt.Printf("BENCH %s\n", b)
	}
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}
