// Package validate checks numerically that a graph rewrite preserves what
// the graph computes (translation validation), using the CPU runtime
// (package cpu) as the oracle.
//
// For an ordinary rewrite the Validator runs the graph before the rewrite
// once on random, meaningful inputs (token ids inside the vocabulary, a
// left-padded attention mask with a real token in every row, Hugging Face
// positions, random past keys and values), keeping every intermediate
// value. It then evaluates the rewrite's replacement nodes on the same
// boundary values and compares each remapped value with the value it
// replaces. Taking the boundary values from a real run (rather than
// drawing them independently) matters: a rewrite may rely on its context,
// e.g. that an additive mask came from AttentionMask.
//
// Rewrites that change the graph's interface or hold state — a
// KVCacheAttention replacement, removed past/present I/O, changed input or
// output types — are checked end to end instead: the graphs before and
// after run as decoder sessions (package cpu's backend.Session) over a
// prefill and a few decode steps, and their logits must agree at every
// real (unpadded) position.
//
// Tolerances: values are compared with max|after-before| / max|before|
// (the fixtures' relative error), at most Options.Tol (default 1e-4) for
// f32 and f64, 1e-2 for bf16 and f16, and exactly for integers and bools.
// A fused op computed in f32 differs from its primitive form only by
// rounding, orders of magnitude below 1e-4.
package validate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
	"github.com/graphpass/graphpass/weights"
)

// ErrMismatch is wrapped by every error reporting that a rewrite changed
// what the graph computes.
var ErrMismatch = errors.New("rewrite changes the computed values")

// ErrCannotValidate is wrapped when a rewrite cannot be evaluated (for
// example a stateful rewrite of a graph that is not a decoder).
var ErrCannotValidate = errors.New("cannot validate rewrite")

// Options tune a Validator. The zero value is usable.
type Options struct {
	// Trials is the number of random input sets per rewrite (default 2).
	Trials int
	// Tol is the relative tolerance for f32/f64 values (default 1e-4).
	Tol float64
	// Seed makes the random inputs reproducible (default 1).
	Seed uint64
	// Dims sizes the symbolic dims of graph inputs; missing "batch", "seq"
	// and "past" default to 2, 3 and 2.
	Dims map[string]int64
	// DecodeSteps is the number of decode steps after the prefill for
	// end-to-end checks (default 3).
	DecodeSteps int
	// Weights resolves initializers held by reference (nil: a store of the
	// validator's own, closed by Close).
	Weights cpu.WeightSource
	// CacheDir is where derived initializers (graph.Derivation) are
	// materialised; "" is weights.DefaultCacheDir().
	CacheDir string
	// Threads for the CPU runtime (0: GOMAXPROCS).
	Threads int
}

func (o Options) withDefaults() Options {
	if o.Trials <= 0 {
		o.Trials = 2
	}
	if o.Tol <= 0 {
		o.Tol = 1e-4
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.DecodeSteps <= 0 {
		o.DecodeSteps = 3
	}
	dims := map[string]int64{graph.DimBatch: 2, graph.DimSeq: 3, graph.DimPast: 2}
	for k, v := range o.Dims {
		dims[k] = v
	}
	o.Dims = dims
	return o
}

// Validator implements the pass host's Validator hook (host.Validator).
// It caches the last graph's evaluation, so validating every rewrite of
// one patch runs the graph before it once per trial. It is safe for
// concurrent use (calls are serialised).
type Validator struct {
	opts  Options
	store *weights.Store

	mu     sync.Mutex
	before *graph.Graph
	runs   []map[string]*tensor.Tensor // per trial: every value of before
	e2e    *sessionRun                 // before's end-to-end run, when needed
}

// New returns a Validator.
func New(opts Options) *Validator {
	v := &Validator{opts: opts.withDefaults()}
	if v.opts.Weights == nil {
		v.store = weights.NewStore()
		v.opts.Weights = v.store
	}
	return v
}

// Close releases the validator's own weight mappings.
func (v *Validator) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.before, v.runs, v.e2e = nil, nil, nil
	if v.store != nil {
		return v.store.Close()
	}
	return nil
}

// ValidateRewrite checks that rw, applied to before, computes the same
// values. The error wraps ErrMismatch (naming the value, the trial and
// the error) or ErrCannotValidate.
func (v *Validator) ValidateRewrite(ctx context.Context, before *graph.Graph, rw graph.Rewrite) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if interfaceOnly(rw) {
		// Removing graph inputs or outputs, and nothing else, changes no
		// value the graph computes; the host's structural check of the
		// whole patch already ensures nothing still reads a removed input.
		// (Such a rewrite may depend on the patch's other rewrites, e.g.
		// the last If reading use_cache_branch going away, so it cannot be
		// applied alone.)
		return nil
	}
	orig := before
	before, lossy, err := v.lossyReference(before, rw)
	if err != nil {
		return err
	}
	if lossy {
		v.before, v.runs, v.e2e = nil, nil, nil // a fresh reference graph each time
	}
	if stateful(rw) {
		return v.validateEndToEnd(ctx, before, rw)
	}
	if err := v.evaluate(ctx, before); err != nil {
		return err
	}
	return v.validateLocal(ctx, before, orig, rw)
}

// interfaceOnly reports whether rw only removes graph inputs or outputs.
func interfaceOnly(rw graph.Rewrite) bool {
	return len(rw.AddNodes) == 0 && len(rw.RemoveNodes) == 0 && len(rw.Remaps) == 0 && len(rw.AddInitializers) == 0 &&
		len(rw.SetInputTypes) == 0 && len(rw.SetOutputTypes) == 0
}

// stateful reports whether rw must be checked end to end.
func stateful(rw graph.Rewrite) bool {
	if len(rw.RemoveInputs) > 0 || len(rw.RemoveOutputs) > 0 || len(rw.SetInputTypes) > 0 || len(rw.SetOutputTypes) > 0 {
		return true
	}
	for _, n := range rw.AddNodes {
		if n.Op == "KVCacheAttention" {
			return true
		}
	}
	return false
}

// evaluate runs before once per trial, keeping every top-level value.
func (v *Validator) evaluate(ctx context.Context, before *graph.Graph) error {
	if v.before == before && v.runs != nil {
		return nil
	}
	v.before, v.runs, v.e2e = nil, nil, nil
	g := before.Clone()
	g.Outputs = nil
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			g.Outputs = append(g.Outputs, graph.ValueInfo{Name: name})
		}
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			add(o)
		}
	}
	for _, o := range before.Outputs {
		add(o.Name)
	}
	if err := v.materialize(g); err != nil {
		return err
	}
	p, err := cpu.Compile(g, cpu.Options{Weights: v.opts.Weights, Threads: v.opts.Threads})
	if err != nil {
		return fmt.Errorf("%w: the graph before the rewrite does not run: %v", ErrCannotValidate, err)
	}
	defer p.Close()
	for t := 0; t < v.opts.Trials; t++ {
		in, err := Inputs(before, v.opts.Dims, v.opts.Seed+uint64(t))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCannotValidate, err)
		}
		p.ResetCache() // each trial is a prefill from empty runtime-held caches
		out, err := p.Run(ctx, in)
		if err != nil {
			return fmt.Errorf("%w: running the graph before the rewrite: %v", ErrCannotValidate, err)
		}
		for k, t := range in {
			out[k] = t
		}
		v.runs = append(v.runs, out)
	}
	v.before = before
	return nil
}

func (v *Validator) materialize(g *graph.Graph) error {
	derived := false
	var walk func(*graph.Graph)
	walk = func(g *graph.Graph) {
		for _, in := range g.Initializers {
			if in.Derive != nil {
				derived = true
			}
		}
		for _, n := range g.Nodes {
			for _, s := range n.Subgraphs {
				walk(s)
			}
		}
	}
	walk(g)
	if !derived {
		return nil
	}
	if _, err := weights.Materialize(g, v.opts.CacheDir); err != nil {
		return fmt.Errorf("%w: deriving initializers: %v", ErrCannotValidate, err)
	}
	return nil
}

// validateLocal evaluates the replacement nodes on the recorded boundary
// values and compares every remapped value.
// Derived initializers are computed from orig's initializers (before may
// hold dequantized stand-ins for them, see lossyReference).
func (v *Validator) validateLocal(ctx context.Context, before, orig *graph.Graph, rw graph.Rewrite) error {
	if len(rw.Remaps) == 0 {
		return nil // nothing the rest of the graph reads changes
	}
	sub := &graph.Graph{Name: "replacement: " + rw.Reason, Metadata: before.Metadata}
	for _, n := range rw.AddNodes {
		sub.Nodes = append(sub.Nodes, n.Clone())
	}
	added := map[string]bool{}
	for _, in := range rw.AddInitializers {
		sub.Initializers = append(sub.Initializers, in.Clone())
		added[in.Name] = true
	}
	for _, in := range rw.AddInitializers {
		if d := in.Derive; d != nil && !added[d.Source] {
			src := orig.Initializer(d.Source)
			if src == nil {
				return fmt.Errorf("%w: derived initializer %q reads %q, which is not an initializer", ErrCannotValidate, in.Name, d.Source)
			}
			sub.Initializers = append(sub.Initializers, src.Clone())
			added[d.Source] = true
		}
	}
	seen := map[string]bool{}
	for _, r := range rw.Remaps {
		if !seen[r.To] {
			seen[r.To] = true
			sub.Outputs = append(sub.Outputs, graph.ValueInfo{Name: r.To})
		}
	}
	run := v.runs[0]
	for _, name := range graph.FreeValues(sub) {
		if added[name] {
			continue
		}
		if in := before.Initializer(name); in != nil {
			sub.Initializers = append(sub.Initializers, in.Clone())
			continue
		}
		t, ok := run[name]
		if !ok {
			return fmt.Errorf("%w: the replacement reads %q, which the graph before the rewrite does not define", ErrCannotValidate, name)
		}
		sub.Inputs = append(sub.Inputs, graph.ValueInfo{Name: name, Type: t.Type()})
	}
	if err := v.materialize(sub); err != nil {
		return err
	}
	p, err := cpu.Compile(sub, cpu.Options{Weights: v.opts.Weights, Threads: v.opts.Threads})
	if err != nil {
		return fmt.Errorf("%w: the replacement does not run: %v", ErrCannotValidate, err)
	}
	defer p.Close()
	for trial, run := range v.runs {
		in := map[string]*tensor.Tensor{}
		for _, vi := range sub.Inputs {
			in[vi.Name] = run[vi.Name]
		}
		p.ResetCache()
		got, err := p.Run(ctx, in)
		if err != nil {
			return fmt.Errorf("%w: running the replacement: %v", ErrMismatch, err)
		}
		for _, r := range rw.Remaps {
			want, ok := run[r.From]
			if !ok {
				return fmt.Errorf("%w: remapped value %q is not defined before the rewrite", ErrCannotValidate, r.From)
			}
			if err := compareValues(got[r.To], want, v.opts.Tol); err != nil {
				return fmt.Errorf("%w: %q (replacing %q), trial %d: %v", ErrMismatch, r.To, r.From, trial, err)
			}
		}
	}
	return nil
}

// compareValues checks got against want within the tolerance of want's dtype.
func compareValues(got, want *tensor.Tensor, tol float64) error {
	if got == nil {
		return fmt.Errorf("no value")
	}
	if !sameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if !want.DType.IsFloat() {
		if got.DType.IsFloat() {
			return fmt.Errorf("dtype %s, want %s", got.DType, want.DType)
		}
		for i := 0; i < want.Len(); i++ {
			if got.Int64At(i) != want.Int64At(i) {
				return fmt.Errorf("element %d is %d, want %d", i, got.Int64At(i), want.Int64At(i))
			}
		}
		return nil
	}
	if want.DType == graph.BF16 || want.DType == graph.F16 || got.DType == graph.BF16 || got.DType == graph.F16 {
		tol = math.Max(tol, 1e-2)
	}
	d := tensor.Compare(got.ToF32(), want.ToF32())
	if d.NaN || d.Rel > tol {
		return fmt.Errorf("relative error %.3g > %.3g (%v)", d.Rel, tol, d)
	}
	return nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Inputs makes random, meaningful inputs for g with symbolic dims sized by
// dims: decoder inputs (graph/decoder.go) get token ids inside the
// vocabulary, an attention mask whose last row is left-padded (every row
// keeps a real token), positions cumsum(mask)-1 with pads at 1, and
// use_cache_branch = past > 0 (past is 0 for graphs whose caches the
// runtime holds: one run is then a prefill); other float inputs are N(0,1), other
// integers uniform in [0, 4), bools random.
func Inputs(g *graph.Graph, dims map[string]int64, seed uint64) (map[string]*tensor.Tensor, error) {
	r := tensor.NewRand(seed)
	vocab := vocabSize(g)
	if g.OpCounts()["KVCacheAttention"] > 0 {
		// The runtime-held caches start empty: a single run is a prefill,
		// so the running mask covers only the new tokens.
		d := make(map[string]int64, len(dims))
		for k, v := range dims {
			d[k] = v
		}
		d[graph.DimPast] = 0
		dims = d
	}
	in := map[string]*tensor.Tensor{}
	shapes := map[string][]int{}
	for _, vi := range g.Inputs {
		s, err := concreteShape(vi.Type.Shape, dims)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", vi.Name, err)
		}
		shapes[vi.Name] = s
	}
	// The running mask first: positions derive from it.
	var mask []int64
	var maskShape []int
	if s, ok := shapes[graph.AttentionMask]; ok && len(s) == 2 {
		maskShape = s
		B, T := s[0], s[1]
		mask = make([]int64, B*T)
		for b := 0; b < B; b++ {
			pads := 0
			if b == B-1 && B > 1 {
				pads = min(b+1, T-1) // left padding, at least one real token
			}
			for j := pads; j < T; j++ {
				mask[b*T+j] = 1
			}
		}
	}
	for _, vi := range g.Inputs {
		shape, dt := shapes[vi.Name], vi.Type.DType
		var t *tensor.Tensor
		switch {
		case vi.Name == graph.InputIDs:
			t = tensor.RandOf(r, dt, 0, float64(vocab), shape...)
		case vi.Name == graph.AttentionMask && mask != nil:
			t = tensor.FromI64(maskShape, mask).Convert(dt)
		case vi.Name == graph.PositionIDs && mask != nil && len(shape) == 2:
			B, S, T := shape[0], shape[1], maskShape[1]
			pos := make([]int64, B*S)
			for b := 0; b < B; b++ {
				var c int64
				for j := 0; j < T; j++ {
					p := int64(1)
					if mask[b*T+j] != 0 {
						p = c
						c++
					}
					if k := j - (T - S); k >= 0 && k < S {
						pos[b*S+k] = p
					}
				}
			}
			t = tensor.FromI64(shape, pos).Convert(dt)
		case vi.Name == graph.UseCacheBranch:
			t = tensor.FromBool(shape, []bool{dims[graph.DimPast] > 0}).Convert(dt)
			if t.Len() != 1 {
				t = tensor.New(dt, shape...)
			}
		case dt.IsFloat():
			t = tensor.RandNormal(r, 1, shape...).Convert(dt)
		case dt == graph.Bool:
			t = tensor.RandOf(r, dt, 0, 2, shape...)
		default:
			t = tensor.RandOf(r, dt, 0, 4, shape...)
		}
		in[vi.Name] = t
	}
	return in, nil
}

func concreteShape(s graph.Shape, dims map[string]int64) ([]int, error) {
	out := make([]int, len(s))
	for i, d := range s {
		switch {
		case d.Static():
			out[i] = int(d.Size)
		case d.IsUnknown():
			out[i] = 1
		default:
			var total int64
			for _, term := range strings.Split(d.Sym, "+") {
				if n, err := strconv.ParseInt(term, 10, 64); err == nil {
					total += n
					continue
				}
				n, ok := dims[term]
				if !ok {
					return nil, fmt.Errorf("no size for dim %q (set Options.Dims)", term)
				}
				total += n
			}
			out[i] = int(total)
		}
	}
	return out, nil
}

// vocabSize is the metadata's vocab_size, else the smallest table gathered
// by input_ids, else 16.
func vocabSize(g *graph.Graph) int64 {
	if v, err := strconv.ParseInt(g.Metadata[graph.MetaVocabSize], 10, 64); err == nil && v > 0 {
		return v
	}
	best := int64(0)
	for _, n := range g.Nodes {
		if (n.Op == "Gather" && n.Input(1) == graph.InputIDs) || (n.Op == "QuantizedGather" && n.Input(3) == graph.InputIDs) {
			src := n.Input(0)
			if in := g.Initializer(src); in != nil && in.Type.Shape.Rank() > 0 {
				if rows := in.Type.Shape[0].Size; best == 0 || rows < best {
					best = rows
				}
			}
		}
	}
	if best > 0 {
		return best
	}
	return 16
}
