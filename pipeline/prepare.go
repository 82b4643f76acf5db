package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/models"
	"github.com/graphpass/graphpass/plugins"
	"github.com/graphpass/graphpass/validate"

	// Registers the "affine_quantize" deriver Materialize computes for the
	// quantize pass.
	_ "github.com/graphpass/graphpass/quant"
)

// Options tune the orchestration. The zero value is ready to use.
type Options struct {
	// Progress receives the progress of long stages; nil is silent.
	Progress func(Progress)
	// Log receives plugin stderr and pass log lines; nil discards them.
	Log io.Writer
	// DerivedDir caches derived weights (e.g. quantized); "" means
	// weights.DefaultCacheDir().
	DerivedDir string
	// Host configures the pass host; nil means host.NewConfig().
	Host *host.Config
	// Find tunes how runtime plugins are found (tests point Self at their
	// own binary).
	Find plugins.FindOptions
	// Plugin tunes plugin start-up and deadlines; the spec's runtime
	// sha256 and timeout take precedence.
	Plugin plugins.Config
	// Validator replaces the translation validator used by verify:
	// numeric (tests use stand-ins).
	Validator host.Validator
}

// Progress is one progress report of a long stage.
type Progress struct {
	Stage    string // e.g. "load model", "compile passes", "run passes", "generate"
	Done     int    // units done so far
	Total    int    // units in all; 0 when unknown
	Finished bool   // the stage is over
}

func (o Options) progress(stage string, done, total int, finished bool) {
	if o.Progress != nil {
		o.Progress(Progress{Stage: stage, Done: done, Total: total, Finished: finished})
	}
}

// Prepared is a model turned into a rewritten graph, ready for a runtime.
type Prepared struct {
	Spec       *Spec
	ModelDir   string
	Checkpoint *model.Checkpoint
	// Source is the graph as the model builder emitted it; Graph is the
	// result of the passes (Source itself when there are none).
	Source *graph.Graph
	Graph  *graph.Graph
	// Passes are the passes run, in order, and Reports what each did.
	Passes  []ResolvedPass
	Reports []host.Report
	// StepOps counts the ops (subgraphs included) of the graph after each
	// pass, for diffs; StepOps[i] belongs to Reports[i].
	StepOps []map[string]int
	Timings Timings

	opts         Options
	materialised bool
}

// Timings of the preparation stages.
type Timings struct {
	LoadModel   time.Duration // open the checkpoint (config, mapping)
	BuildGraph  time.Duration // build the decoder graph
	LoadPasses  time.Duration // compile (or fetch from cache) the pass modules
	RunPasses   time.Duration // run them
	Materialize time.Duration // compute derived weights
}

// ModelDir returns the spec's model directory, the bundled model when it
// names none.
func (s *Spec) ModelDir() (string, error) {
	if s.Model != "" {
		return s.Model, nil
	}
	return models.DefaultDir()
}

// BuildOptions returns the model builder options of the spec.
func (s *Spec) BuildOptions() model.BuildOptions {
	return model.BuildOptions{
		MergedDecoder:       s.Graph.MergedDecoder,
		AttentionOutputs:    s.Graph.AttentionOutputs,
		HiddenStates:        s.Graph.HiddenStates,
		ExpandKVBeforeCache: s.Graph.ExpandKVBeforeCache,
	}
}

// OpenModel opens the spec's checkpoint and builds its graph.
func OpenModel(s *Spec, opts Options) (*model.Checkpoint, *graph.Graph, Timings, error) {
	var t Timings
	dir, err := s.ModelDir()
	if err != nil {
		return nil, nil, t, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, t, fmt.Errorf("model %s: no such directory", dir)
	}
	opts.progress("load model", 0, 0, false)
	t0 := time.Now()
	ck, err := model.Open(dir)
	if err != nil {
		return nil, nil, t, err
	}
	t.LoadModel = time.Since(t0)
	t0 = time.Now()
	g, err := ck.Graph(s.BuildOptions())
	if err != nil {
		ck.Close()
		return nil, nil, t, err
	}
	t.BuildGraph = time.Since(t0)
	opts.progress("load model", 1, 1, true)
	return ck, g, t, nil
}

// Prepare opens the model, builds its graph and runs the spec's passes
// over it (sandboxed, each patch verified; with verify: numeric every
// rewrite is also checked numerically). The result is not yet
// materialised; Load does that.
func Prepare(ctx context.Context, s *Spec, opts Options) (*Prepared, error) {
	resolved, err := ResolvePasses(s)
	if err != nil {
		return nil, err
	}
	ck, g, t, err := OpenModel(s, opts)
	if err != nil {
		return nil, err
	}
	p := &Prepared{Spec: s, ModelDir: ck.Dir, Checkpoint: ck, Source: g, Graph: g, Passes: resolved, Timings: t, opts: opts}
	if err := p.runPasses(ctx); err != nil {
		ck.Close()
		return nil, err
	}
	return p, nil
}

// Close releases the checkpoint's mappings.
func (p *Prepared) Close() error { return p.Checkpoint.Close() }

func (p *Prepared) runPasses(ctx context.Context) error {
	if len(p.Passes) == 0 {
		if p.Spec.Verify != VerifyNone {
			return graph.Verify(p.Graph)
		}
		return nil
	}
	cfg := host.NewConfig()
	if p.opts.Host != nil {
		cfg = *p.opts.Host
	}
	if p.opts.Log != nil {
		cfg = cfg.WithLogWriter(p.opts.Log)
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	p.opts.progress("compile passes", 0, len(p.Passes), false)
	t0 := time.Now()
	loaded, loadErrs := loadPasses(ctx, h, p.Passes)
	p.Timings.LoadPasses = time.Since(t0)
	p.opts.progress("compile passes", len(p.Passes), len(p.Passes), true)
	// A module that does not load fails its pass like any other pass
	// failure: on_error decides.
	var steps []host.Step
	var stepOf []int // index into p.Passes of each step
	var skipped []host.Report
	for i, err := range loadErrs {
		if err == nil {
			ps := loaded[i]
			st := host.Step{Pass: ps, Options: p.Passes[i].Options, OnError: host.Fail}
			if p.Passes[i].OnError == OnErrorSkip {
				st.OnError = host.Skip
			}
			p.Passes[i].Name = ps.Name()
			p.Passes[i].Version = ps.Info().Version
			steps = append(steps, st)
			stepOf = append(stepOf, i)
			continue
		}
		if p.Passes[i].OnError != OnErrorSkip || ctx.Err() != nil {
			return err
		}
		skipped = append(skipped, host.Report{Pass: p.Passes[i].Label(), File: p.Passes[i].Path, Err: err, Error: err.Error(), Skipped: true})
		stepOf = append(stepOf, -1-i) // marks a pass that did not load
	}
	runner := &host.Runner{}
	if p.Spec.Verify == VerifyNumeric {
		v := p.opts.Validator
		if v == nil {
			// The CPU runtime is the oracle; it reads the checkpoint's
			// weights through the mappings already open.
			val := validate.New(validate.Options{Weights: p.Checkpoint.Store, CacheDir: p.opts.DerivedDir})
			defer val.Close()
			v = val
		}
		runner.Validator = v
	}
	p.opts.progress("run passes", 0, len(steps), false)
	t0 = time.Now()
	// One Run for the whole list: the runner verifies the input once and
	// infers and encodes each version of the graph once for every pass
	// that sees it.
	var stepOps []map[string]int
	runner.StepDone = func(i int, _ host.Report, g *graph.Graph) {
		stepOps = append(stepOps, g.OpCounts())
		p.opts.progress("run passes", i+1, len(steps), false)
	}
	cur, reps, runErr := runner.Run(ctx, p.Source, steps)
	// Reports and StepOps follow p.Passes: a pass that did not load gets
	// its failure report in its place and leaves the graph as it was.
	ops := p.Source.OpCounts()
	next := 0
	for _, k := range stepOf {
		if k < 0 {
			p.Reports = append(p.Reports, skipped[0])
			skipped = skipped[1:]
			p.StepOps = append(p.StepOps, ops)
			continue
		}
		if next >= len(reps) {
			break // the run stopped at a failing pass
		}
		p.Reports = append(p.Reports, reps[next])
		ops = stepOps[next]
		p.StepOps = append(p.StepOps, ops)
		next++
	}
	if runErr != nil {
		p.Timings.RunPasses = time.Since(t0)
		return runErr
	}
	p.Timings.RunPasses = time.Since(t0)
	p.opts.progress("run passes", len(steps), len(steps), true)
	// cur needs no verifying again: Run verified its input and
	// graph.ApplyTypes every patched graph, and cur is one of these (or a
	// clone of the input).
	p.Graph = cur
	return nil
}

// loadPasses compiles (or fetches from the cache) every pass module in
// parallel; errs[i] is the failure of pass i.
func loadPasses(ctx context.Context, h *host.Host, rps []ResolvedPass) ([]*host.Pass, []error) {
	loaded := make([]*host.Pass, len(rps))
	errs := make([]error, len(rps))
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, rp := range rps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			loaded[i], errs[i] = h.Load(ctx, rp.module())
		}()
	}
	wg.Wait()
	return loaded, errs
}

// Materialize computes the derived weights the passes asked for (e.g.
// quantized triplets) into the derived-weights cache and drops the
// initializers nothing reads any more. Load calls it.
func (p *Prepared) Materialize() error {
	if p.materialised {
		return nil
	}
	needs := false
	for _, in := range p.Graph.Initializers {
		if in.Derive != nil {
			needs = true
			break
		}
	}
	if needs {
		p.opts.progress("materialise weights", 0, 0, false)
		t0 := time.Now()
		if p.Graph == p.Source {
			p.Graph = p.Source.Clone()
		}
		if _, err := p.Checkpoint.Store.Materialize(p.Graph, p.opts.DerivedDir); err != nil {
			return fmt.Errorf("derived weights: %w", err)
		}
		graph.DCE(p.Graph)
		p.Timings.Materialize = time.Since(t0)
		p.opts.progress("materialise weights", 1, 1, true)
	}
	p.materialised = true
	return nil
}

// ErrNoPrompt is returned by Generate when the spec gives neither a prompt
// nor ids.
var ErrNoPrompt = errors.New("generate: give a prompt or token ids")

// absPath makes a path absolute for messages and plugins.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
