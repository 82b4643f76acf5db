package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
)

// Pass is a loaded pass module. It is safe for concurrent use: every call
// runs in a fresh instance.
type Pass struct {
	h       *Host
	file    string
	name    string
	sum     [sha256.Size]byte
	trusted bool           // Module.Trusted: no deadline
	rt      wazero.Runtime // the runtime cm was compiled for
	cm      wazero.CompiledModule
	version uint32 // the ABI version negotiated
	hasInit bool
	info    *abi.PassInfo
}

// Name returns the pass's name (from its PassInfo).
func (p *Pass) Name() string { return p.name }

// File returns the module's path (or "<bytes>").
func (p *Pass) File() string { return p.file }

// SHA256 returns the hex SHA-256 of the module's WebAssembly bytes (after
// decompression, for a .wasm.gz).
func (p *Pass) SHA256() string { return hex.EncodeToString(p.sum[:]) }

// Trusted reports whether the module was loaded as trusted (Module.Trusted):
// it runs without a deadline.
func (p *Pass) Trusted() bool { return p.trusted }

// ABIVersion returns the ABI version the host speaks with the module.
func (p *Pass) ABIVersion() uint32 { return p.version }

// Info returns a copy of the PassInfo the module reported when loaded.
func (p *Pass) Info() *abi.PassInfo {
	c := *p.info
	c.Consumes = append([]string(nil), p.info.Consumes...)
	c.Produces = append([]string(nil), p.info.Produces...)
	return &c
}

func (p *Pass) fail(reason, err error) *Error {
	return &Error{Pass: p.name, File: p.file, Reason: reason, Err: err}
}

// Result is everything one run of a pass produced.
type Result struct {
	Patch  *graph.Patch // as returned by the pass; never nil on success
	Graph  *graph.Graph // the input graph with Patch applied, verified; the input itself when Patch is empty
	Notes  []abi.Note   // matches the pass chose not to rewrite, and why
	Log    []string     // graphpass.log, stdout and stderr lines, bounded
	Timing Timing

	types map[string]graph.TensorType // of Graph, when the patch was applied
}

// Timing splits the time of one pass run.
type Timing struct {
	Encode   time.Duration // type inference, building the request, encoding
	Run      time.Duration // instantiation, _initialize, the call, copying out
	Apply    time.Duration // decoding, graph.Apply, verification
	Validate time.Duration // the Validator, when one is set
}

// Total is the sum of the parts.
func (t Timing) Total() time.Duration { return t.Encode + t.Run + t.Apply + t.Validate }

// Run runs the pass on g with options (a JSON object; "" means "{}") and
// returns its patch and notes. The patch has been applied to a copy of g
// and the result verified; g itself is never modified. Errors are *Error.
func (p *Pass) Run(ctx context.Context, g *graph.Graph, optionsJSON string) (*graph.Patch, []abi.Note, error) {
	res, err := p.Exec(ctx, g, optionsJSON)
	if err != nil {
		var notes []abi.Note
		if res != nil {
			notes = res.Notes
		}
		return nil, notes, err
	}
	return res.Patch, res.Notes, nil
}

// Exec is Run returning everything: the patched graph, logs and timings.
// On error the Result still carries whatever log and notes there were.
func (p *Pass) Exec(ctx context.Context, g *graph.Graph, optionsJSON string) (*Result, error) {
	return p.exec(ctx, g, optionsJSON, nil)
}

func (p *Pass) exec(ctx context.Context, g *graph.Graph, optionsJSON string, v Validator) (*Result, error) {
	return p.execPrepared(ctx, newPrepared(g), optionsJSON, v)
}

// prepared is a graph made ready for passes: its types inferred and its
// request encoded (per ABI version) once, for every pass that sees this
// graph. A Runner keeps one per version of the graph it rewrites.
type prepared struct {
	g        *graph.Graph
	inferred bool
	types    map[string]graph.TensorType // node output types
	err      error                       // from inference
	prefix   map[uint32][]byte           // EncodeRunRequestGraph by ABI version
	ops      map[string]bool             // ops at any depth, built on first use
	nodes    int                         // g.NumNodes(), once counted is set
	counted  bool
}

func newPrepared(g *graph.Graph) *prepared { return &prepared{g: g} }

// preparedWithTypes is newPrepared for a graph whose value types are known
// (inferred while verifying it).
func preparedWithTypes(g *graph.Graph, types map[string]graph.TensorType) *prepared {
	if types == nil {
		return newPrepared(g)
	}
	return &prepared{g: g, inferred: true, types: nodeOutputTypes(g, types)}
}

// request returns the encoded request without its options field.
func (pr *prepared) request(version uint32) ([]byte, error) {
	if !pr.inferred {
		pr.inferred = true
		types, err := graph.Infer(pr.g)
		if err != nil {
			pr.err = err
		} else {
			pr.types = nodeOutputTypes(pr.g, types)
		}
	}
	if pr.err != nil {
		return nil, pr.err
	}
	if b, ok := pr.prefix[version]; ok {
		return b, nil
	}
	b := abi.EncodeRunRequestGraph(version, requestView(pr.g), pr.types)
	if pr.prefix == nil {
		pr.prefix = map[uint32][]byte{}
	}
	pr.prefix[version] = b
	return b, nil
}

// numNodes returns g.NumNodes(), counting only on first use (the graph
// must not change meanwhile, as for the rest of prepared).
func (pr *prepared) numNodes() int {
	if !pr.counted {
		pr.nodes, pr.counted = pr.g.NumNodes(), true
	}
	return pr.nodes
}

// hasOp reports whether a node of the graph, at any depth, has one of ops.
func (pr *prepared) hasOp(ops []string) bool {
	if pr.ops == nil {
		pr.ops = map[string]bool{}
		var walk func(*graph.Graph)
		walk = func(g *graph.Graph) {
			for _, n := range g.Nodes {
				pr.ops[n.Op] = true
				for _, sg := range n.Subgraphs {
					if sg != nil {
						walk(sg)
					}
				}
			}
		}
		walk(pr.g)
	}
	for _, op := range ops {
		if pr.ops[op] {
			return true
		}
	}
	return false
}

func (p *Pass) execPrepared(ctx context.Context, pr *prepared, optionsJSON string, v Validator) (*Result, error) {
	g := pr.g
	res := &Result{}
	start := time.Now()
	opts, err := normalizeOptions(optionsJSON)
	if err != nil {
		return res, p.fail(ErrInvalidOptions, err)
	}
	prefix, err := pr.request(p.version)
	if err != nil {
		return res, p.fail(ErrInvalidGraph, err)
	}
	options := abi.AppendRunRequestOptions(nil, opts)
	res.Timing.Encode = time.Since(start)

	start = time.Now()
	out, log, err := p.call(ctx, abi.ExportRun, prefix, options)
	res.Log = log
	res.Timing.Run = time.Since(start)
	if err != nil {
		return res, err
	}

	start = time.Now()
	defer func() { res.Timing.Apply = time.Since(start) - res.Timing.Validate }()
	resp, err := abi.DecodeRunResponse(out)
	if err != nil {
		return res, p.fail(ErrMalformed, err)
	}
	res.Notes = resp.Notes
	if resp.Error != nil {
		return res, p.fail(ErrPassReported, resp.Error)
	}
	if resp.Patch == nil {
		resp.Patch = &graph.Patch{}
	}
	res.Patch = resp.Patch
	if len(resp.Patch.Rewrites) == 0 {
		res.Graph = g // nothing to apply, nothing to validate
		return res, nil
	}
	out2, types, err := applyPatch(g, resp.Patch)
	if err != nil {
		return res, p.fail(ErrPatchRejected, err)
	}
	res.types = types
	if v != nil {
		vstart := time.Now()
		for i, rw := range resp.Patch.Rewrites {
			if err := v.ValidateRewrite(ctx, g, rw); err != nil {
				res.Timing.Validate = time.Since(vstart)
				return res, p.fail(ErrValidationFailed, fmt.Errorf("rewrite %d (%s): %w", i, rw.Reason, err))
			}
		}
		res.Timing.Validate = time.Since(vstart)
	}
	res.Graph = out2
	return res, nil
}

// Triggered reports whether the pass may rewrite something in g. The
// PassInfo's consumes lists the pass's trigger ops (abi/SPEC.md): when it
// is not empty and no node of g, at any depth, has one of them, the pass
// cannot match, Triggered is false and why says so. A Runner does not run
// such a pass.
func (p *Pass) Triggered(g *graph.Graph) (ok bool, why string) {
	return p.triggered(newPrepared(g))
}

func (p *Pass) triggered(pr *prepared) (bool, string) {
	ops := p.info.Consumes
	if len(ops) == 0 || pr.hasOp(ops) {
		return true, ""
	}
	if len(ops) == 1 {
		return false, "no " + ops[0] + " node in the graph"
	}
	return false, "none of its trigger ops (" + strings.Join(ops, ", ") + ") in the graph"
}

// normalizeOptions checks options are a JSON object.
func normalizeOptions(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "{}", nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		if err == nil {
			err = errors.New("null")
		}
		return "", fmt.Errorf("options must be a JSON object: %v", err)
	}
	return s, nil
}

// nodeOutputTypes keeps the types of top-level node outputs: graph inputs
// and initializers carry their types already (SPEC.md 3.1).
func nodeOutputTypes(g *graph.Graph, types map[string]graph.TensorType) map[string]graph.TensorType {
	out := make(map[string]graph.TensorType, len(types))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if t, ok := types[o]; ok {
				out[o] = t
			}
		}
	}
	return out
}

// requestView is g as a pass may see it: the same nodes and values, but
// initializers carry their bytes only up to graph.InlineLimit and never a
// WeightRef (file paths stay on the host). Nothing is copied.
func requestView(g *graph.Graph) *graph.Graph {
	v := *g
	v.Initializers = make([]*graph.Initializer, len(g.Initializers))
	for i, in := range g.Initializers {
		c := &graph.Initializer{Name: in.Name, Type: in.Type, Derive: in.Derive}
		if in.Data != nil && len(in.Data) <= graph.InlineLimit {
			c.Data = in.Data
		}
		v.Initializers[i] = c
	}
	return &v
}

// applyPatch applies p to a copy of g and checks what graph.Apply does not:
// the graph's interface with the runtime. A patch may remove graph inputs
// and outputs and change their shapes (e.g. when GQA heads stop being
// expanded), but not add or rename them, nor change their dtypes. It
// returns the value types verifying the result inferred.
func applyPatch(g *graph.Graph, p *graph.Patch) (*graph.Graph, map[string]graph.TensorType, error) {
	out, types, err := graph.ApplyTypes(g, p)
	if err != nil {
		return nil, nil, err
	}
	check := func(what string, before, now []graph.ValueInfo) error {
		for _, v := range now {
			i := indexOf(before, v.Name)
			if i < 0 {
				return fmt.Errorf("%w: adds or renames graph %s %q; graph inputs and outputs are the runtime's interface", graph.ErrPatch, what, v.Name)
			}
			if old := before[i].Type.DType; old != v.Type.DType {
				return fmt.Errorf("%w: changes the dtype of graph %s %q from %s to %s", graph.ErrPatch, what, v.Name, old, v.Type.DType)
			}
		}
		return nil
	}
	if err := check("input", g.Inputs, out.Inputs); err != nil {
		return nil, nil, err
	}
	if err := check("output", g.Outputs, out.Outputs); err != nil {
		return nil, nil, err
	}
	return out, types, nil
}

func indexOf(vs []graph.ValueInfo, name string) int {
	for i, v := range vs {
		if v.Name == name {
			return i
		}
	}
	return -1
}

// call instantiates the module, writes the parts of in (when there are
// some) one after the other into a buffer from graphpass_alloc, calls fn and
// copies out its packed result.
func (p *Pass) call(ctx context.Context, fn string, in ...[]byte) ([]byte, []string, error) {
	cfg := p.h.cfg
	log := newCallLog(p.name, cfg.logLimit, cfg.logWriter)
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("pass %q (%s): %w", p.name, p.file, ctx.Err())
	}
	parent := ctx
	if cfg.callTimeout > 0 && !p.trusted {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.callTimeout)
		defer cancel()
	}
	ctx = context.WithValue(ctx, callLogKey{}, log)
	ctx = experimental.WithMemoryAllocator(ctx, memoryAllocator)

	var mod api.Module
	crash := func(stage string, err error) error {
		if parent.Err() != nil { // the caller gave up: not the pass's fault
			return fmt.Errorf("pass %q (%s): %w", p.name, p.file, parent.Err())
		}
		return p.classify(stage, err, mod, log)
	}
	mod, err := p.rt.InstantiateModule(ctx, p.cm, moduleConfig(log))
	if err != nil {
		return nil, log.finish(), crash("instantiate", err)
	}
	defer mod.Close(context.Background())
	if p.hasInit {
		if _, err := mod.ExportedFunction(abi.ExportInitialize).Call(ctx); err != nil {
			return nil, log.finish(), crash(abi.ExportInitialize, err)
		}
	}
	mem := mod.Memory()
	var results []uint64
	if len(in) > 0 {
		size := 0
		for _, part := range in {
			size += len(part)
		}
		if uint64(size) > uint64(mem.Size())+uint64(cfg.memoryLimitPages)*65536 || size > 1<<31-1 {
			return nil, log.finish(), p.fail(ErrMemoryLimit, fmt.Errorf("request of %d bytes cannot fit in %d pages", size, cfg.memoryLimitPages))
		}
		r, err := mod.ExportedFunction(abi.ExportAlloc).Call(ctx, uint64(size))
		if err != nil {
			return nil, log.finish(), crash(abi.ExportAlloc, err)
		}
		ptr := uint32(r[0])
		if uint64(ptr)+uint64(size) > uint64(mem.Size()) {
			return nil, log.finish(), p.fail(ErrMalformed, fmt.Errorf("%s(%d) returned %#x, out of bounds of memory (%d bytes)", abi.ExportAlloc, size, ptr, mem.Size()))
		}
		at := ptr
		for _, part := range in {
			mem.Write(at, part) // in bounds: checked above
			at += uint32(len(part))
		}
		results, err = mod.ExportedFunction(fn).Call(ctx, uint64(ptr), uint64(size))
		if err != nil {
			return nil, log.finish(), crash(fn, err)
		}
	} else {
		results, err = mod.ExportedFunction(fn).Call(ctx)
		if err != nil {
			return nil, log.finish(), crash(fn, err)
		}
	}
	ptr, n := uint32(results[0]>>32), uint32(results[0])
	if int64(n) > int64(cfg.outputLimit) {
		return nil, log.finish(), p.fail(ErrOutputLimit, fmt.Errorf("%s returned %d bytes; the limit is %d", fn, n, cfg.outputLimit))
	}
	view, ok := mem.Read(ptr, n)
	if !ok {
		return nil, log.finish(), p.fail(ErrMalformed, fmt.Errorf("%s returned [%#x, +%d), out of bounds of memory (%d bytes)", fn, ptr, n, mem.Size()))
	}
	return append([]byte(nil), view...), log.finish(), nil
}

// classify turns an error from wazero into an *Error with the right reason.
func (p *Pass) classify(stage string, err error, mod api.Module, log *callLog) error {
	detail := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if why := log.crashSummary(); why != "" {
			msg += "; stderr: " + why
		}
		return errors.New(msg)
	}
	nearLimit := func() (uint32, bool) {
		if mod == nil || mod.Memory() == nil {
			return 0, false
		}
		pages := mod.Memory().Size() / 65536
		limit := p.h.cfg.memoryLimitPages
		return pages, pages >= limit-limit/16
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return p.fail(ErrDeadline, fmt.Errorf("%s did not return within %s", stage, p.h.cfg.callTimeout))
		case sys.ExitCodeContextCanceled:
			return p.fail(ErrDeadline, fmt.Errorf("%s was cancelled", stage))
		}
		if pages, near := nearLimit(); near || strings.Contains(log.crashSummary(), "out of memory") {
			return p.fail(ErrMemoryLimit, detail("%s exited with code %d using %d of %d pages", stage, exit.ExitCode(), pages, p.h.cfg.memoryLimitPages))
		}
		return p.fail(ErrExit, detail("%s exited with code %d", stage, exit.ExitCode()))
	}
	if stage == "instantiate" {
		return p.fail(ErrInvalidModule, err)
	}
	msg := err.Error()
	if pages, near := nearLimit(); near || strings.Contains(log.crashSummary(), "out of memory") {
		return p.fail(ErrMemoryLimit, detail("%s trapped using %d of %d pages: %s", stage, pages, p.h.cfg.memoryLimitPages, trapSummary(msg)))
	}
	return p.fail(ErrTrap, detail("%s: %s", stage, trapSummary(msg)))
}

// trapSummary keeps the first line of a wazero trap and the innermost
// frames of its wasm stack trace.
func trapSummary(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	out := strings.TrimSpace(lines[0])
	var frames []string
	for _, l := range lines[1:] {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "wasm stack trace") {
			continue
		}
		frames = append(frames, l)
	}
	if len(frames) > 4 {
		frames = append(frames[:4], fmt.Sprintf("… %d more", len(frames)-4))
	}
	if len(frames) > 0 {
		out += " (wasm stack: " + strings.Join(frames, " < ") + ")"
	}
	return out
}

// callInfo asks the module for its PassInfo and checks it.
func (p *Pass) callInfo(ctx context.Context) (*abi.PassInfo, error) {
	out, _, err := p.call(ctx, abi.ExportInfo)
	if err != nil {
		return nil, err
	}
	info, err := abi.DecodePassInfo(out)
	if err != nil {
		return nil, p.fail(ErrMalformed, fmt.Errorf("%s: %w", abi.ExportInfo, err))
	}
	if info.ABIVersion != p.version {
		return nil, p.fail(ErrABIMismatch, fmt.Errorf("%s says abi_version %d, but the module exports %s", abi.ExportInfo, info.ABIVersion, abi.ExportMarkerV1))
	}
	if info.Name == "" {
		return nil, p.fail(ErrMalformed, fmt.Errorf("%s has no name", abi.ExportInfo))
	}
	return info, nil
}
