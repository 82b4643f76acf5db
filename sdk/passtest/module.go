package passtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

var (
	hostOnce sync.Once
	testHost *host.Host
	hostErr  error
	loaded   sync.Map // sha256 of the module → *host.Pass
)

// Host returns the host the tests share: default sandbox limits, with
// wazero's compilation cache in the user cache directory so that repeated
// test runs do not recompile unchanged modules.
func Host() (*host.Host, error) {
	hostOnce.Do(func() {
		cfg := host.NewConfig()
		if dir := host.DefaultCacheDir(); dir != "" {
			cfg = cfg.WithCompilationCacheDir(dir)
		}
		testHost, hostErr = host.New(context.Background(), cfg)
	})
	return testHost, hostErr
}

// Module loads (once per test binary) the pass module at path: a .wasm or
// a gzip-compressed .wasm.gz. A path "x.wasm" that does not exist falls
// back to "x.wasm.gz", the form modules are committed in.
func Module(path string) (*host.Pass, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(abs)
	if errors.Is(err, os.ErrNotExist) && filepath.Ext(abs) == ".wasm" {
		if gz, gzErr := os.ReadFile(abs + ".gz"); gzErr == nil {
			abs, wasm, err = abs+".gz", gz, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return ModuleBytes(abs, wasm)
}

// ModuleBytes loads (once per test binary and content) a pass module;
// name labels it in errors.
func ModuleBytes(name string, wasm []byte) (*host.Pass, error) {
	key := sha256.Sum256(wasm)
	if p, ok := loaded.Load(key); ok {
		return p.(*host.Pass), nil
	}
	h, err := Host()
	if err != nil {
		return nil, err
	}
	p, err := h.Load(context.Background(), host.Module{Path: name, Wasm: wasm})
	if err != nil {
		return nil, err
	}
	loaded.Store(key, p)
	return p, nil
}

// RunModule runs the pass module at path on g through package host and
// returns its response as the host decoded it. A pass-reported error is a
// response with Error set, not an error.
func RunModule(path string, g *graph.Graph, optionsJSON string) (*abi.RunResponse, error) {
	p, err := Module(path)
	if err != nil {
		return nil, err
	}
	return runLoaded(p, g, optionsJSON)
}

func runLoaded(p *host.Pass, g *graph.Graph, optionsJSON string) (*abi.RunResponse, error) {
	res, err := p.Exec(context.Background(), g, optionsJSON)
	if err != nil {
		var perr *abi.PassError
		if errors.As(err, &perr) {
			return &abi.RunResponse{Error: perr, Notes: res.Notes}, nil
		}
		return nil, err
	}
	return &abi.RunResponse{Patch: res.Patch, Notes: res.Notes}, nil
}
