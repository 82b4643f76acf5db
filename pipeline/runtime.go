package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/plugins"
)

// InprocName is the runtime name that runs the cpu runtime inside this
// process instead of in a plugin.
const InprocName = "inproc"

// RuntimeInfo says which runtime is running and where.
type RuntimeInfo struct {
	Name            string  `json:"name"`             // from its capabilities, e.g. "cpu"
	Kind            string  `json:"kind"`             // "inproc" or "plugin"
	Device          string  `json:"device"`           // e.g. "2 x86-64 cores"
	Path            string  `json:"path,omitempty"`   // plugin executable
	Source          string  `json:"source,omitempty"` // where it was found
	PID             int     `json:"pid,omitempty"`
	ProtocolVersion int     `json:"protocol_version,omitempty"`
	Version         string  `json:"version,omitempty"`
	StartMillis     float64 `json:"start_ms"`
}

// OpenRuntime starts the runtime a spec names: the cpu runtime in this
// process for "inproc", otherwise a plugin found by plugins.Find (an
// explicit path, $GRAPHPASS_PLUGIN_DIR, plugin_dir:, next to the CLI, or
// the CLI itself for runtimes it embeds).
func OpenRuntime(ctx context.Context, rs RuntimeSpec, opts Options) (backend.Runtime, RuntimeInfo, error) {
	t0 := time.Now()
	if rs.Name == InprocName {
		rt, err := newInproc(rs.Threads)
		if err != nil {
			return nil, RuntimeInfo{}, err
		}
		c := rt.Capabilities()
		return rt, RuntimeInfo{Name: c.Name, Kind: "inproc", Device: c.Device, PID: os.Getpid(), StartMillis: millis(time.Since(t0))}, nil
	}
	fo := opts.Find
	fo.Dirs = append(append([]string(nil), rs.PluginDirs...), fo.Dirs...)
	bin, err := plugins.Find(rs.Label(), fo)
	if err != nil {
		return nil, RuntimeInfo{}, err
	}
	cfg := opts.Plugin
	if rs.SHA256 != "" {
		cfg.SHA256 = rs.SHA256
	}
	if rs.CallTimeout > 0 {
		cfg.CallTimeout = rs.CallTimeout
	}
	if cfg.Stderr == nil && opts.Log != nil {
		cfg.Stderr = opts.Log
	}
	opts.progress("start runtime", 0, 0, false)
	rt, err := plugins.Start(ctx, bin, cfg)
	if err != nil {
		return nil, RuntimeInfo{}, err
	}
	opts.progress("start runtime", 1, 1, true)
	in := rt.Info()
	c := rt.Capabilities()
	return rt, RuntimeInfo{Name: in.Name, Kind: "plugin", Device: c.Device, Path: in.Path, Source: in.Source, PID: in.PID,
		ProtocolVersion: in.ProtocolVersion, Version: in.Version, StartMillis: millis(time.Since(t0))}, nil
}

// Load materialises the prepared graph's derived weights and loads it on
// rt. A runtime that lacks an op or dtype of the graph is refused before
// loading, with what it lacks.
func (p *Prepared) Load(ctx context.Context, rt backend.Runtime) (backend.Model, time.Duration, error) {
	if err := p.Materialize(); err != nil {
		return nil, 0, err
	}
	if err := rt.Capabilities().Check(p.Graph); err != nil {
		return nil, 0, err
	}
	p.opts.progress("load graph on runtime", 0, 0, false)
	t0 := time.Now()
	m, err := rt.Load(ctx, p.Graph, backendLoadOptions(p.Spec.Runtime))
	if err != nil {
		var ue *backend.UnsupportedError
		if errors.As(err, &ue) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("load on runtime %s: %w", p.Spec.Runtime.Label(), err)
	}
	p.opts.progress("load graph on runtime", 1, 1, true)
	return m, time.Since(t0), nil
}

// newInproc is the cpu runtime in this process (threads are a Load option).
func newInproc(int) (backend.Runtime, error) { return cpu.New(), nil }

func backendLoadOptions(rs RuntimeSpec) backend.LoadOptions {
	return backend.LoadOptions{Threads: rs.Threads}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
