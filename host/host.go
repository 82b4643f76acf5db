package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/graphpass/graphpass/abi"
)

// Host compiles and runs passes. It is safe for concurrent use; Close it to
// release compiled code.
type Host struct {
	cfg   Config
	rt    wazero.Runtime // the sandbox: deadline checks when cfg.callTimeout > 0
	cache wazero.CompilationCache

	// trusted runs trusted modules (Module.Trusted): the same sandbox
	// without the deadline's loop checks. Started on first use; it is rt
	// itself when the configuration has no deadline.
	trustedOnce sync.Once
	trusted     wazero.Runtime
	trustedErr  error

	mu       sync.Mutex
	compiled map[compileKey]*compileOnce
}

// compileKey identifies compiled code: the module's bytes and the runtime
// (code compiled for deadline checks differs from code without).
type compileKey struct {
	sum     [sha256.Size]byte
	trusted bool
}

type compileOnce struct {
	once sync.Once
	cm   wazero.CompiledModule
	err  error
}

// New starts a Host with cfg.
func New(ctx context.Context, cfg Config) (*Host, error) {
	if cfg.memoryLimitPages == 0 {
		return nil, errors.New("host: zero Config; use host.NewConfig()")
	}
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("host: compilation cache %s: %w", cfg.cacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	h := &Host{cfg: cfg, cache: cache, compiled: map[compileKey]*compileOnce{}}
	rt, err := newRuntime(ctx, cfg, cache, cfg.callTimeout > 0)
	if err != nil {
		_ = cache.Close(ctx)
		return nil, err
	}
	h.rt = rt
	return h, nil
}

// newRuntime starts a wazero runtime with the host's imports: WASI preview1
// and graphpass.log. deadline compiles the loop checks that let a deadline
// close a module mid-execution.
func newRuntime(ctx context.Context, cfg Config, cache wazero.CompilationCache, deadline bool) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.memoryLimitPages).
		WithCloseOnContextDone(deadline).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("host: WASI: %w", err)
	}
	if _, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(hostLog).Export(abi.ImportLog).
		Instantiate(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("host: %s module: %w", abi.ImportModule, err)
	}
	return rt, nil
}

// runtime returns the runtime that runs modules with the given trust.
func (h *Host) runtime(ctx context.Context, trusted bool) (wazero.Runtime, error) {
	if !trusted || h.cfg.callTimeout <= 0 {
		return h.rt, nil
	}
	h.trustedOnce.Do(func() {
		h.trusted, h.trustedErr = newRuntime(ctx, h.cfg, h.cache, false)
	})
	if h.trusted == nil && h.trustedErr == nil {
		return nil, errors.New("host: closed")
	}
	return h.trusted, h.trustedErr
}

// Config returns the host's configuration.
func (h *Host) Config() Config { return h.cfg }

// Close releases the runtime and every compiled module. Passes of a closed
// Host fail.
func (h *Host) Close(ctx context.Context) error {
	err := h.rt.Close(ctx)
	h.trustedOnce.Do(func() {}) // no trusted runtime starts after Close
	if h.trusted != nil {
		if terr := h.trusted.Close(ctx); err == nil {
			err = terr
		}
	}
	if cerr := h.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Module names a pass module to load.
type Module struct {
	// Path is the module file: a .wasm, or a gzip-compressed .wasm.gz. With
	// Wasm set, it only names the module in errors and reports.
	Path string
	// Wasm is the module's bytes (plain or gzip-compressed); nil reads Path.
	Wasm []byte
	// SHA256, when not empty, pins the module: its hex SHA-256 must match
	// the module's WebAssembly bytes or, for a gzip-compressed module, the
	// compressed bytes as given.
	SHA256 string
	// Trusted runs the module without the deadline's loop checks, about 3×
	// faster for Go modules. It is meant for code that ships inside the
	// program, such as the built-in passes (package passes), and requires
	// Wasm: a module read from a file is never trusted. A trusted module
	// keeps every other limit of the sandbox, but a call into it cannot be
	// interrupted: one that loops forever hangs the caller.
	Trusted bool
}

// LoadFile loads the pass module at path (.wasm or .wasm.gz). See Load.
func (h *Host) LoadFile(ctx context.Context, path string) (*Pass, error) {
	return h.Load(ctx, Module{Path: path})
}

// Load compiles a pass module (or reuses it, when one with the same bytes
// was loaded before), checks its imports and exports, and calls its
// graphpass_info. A gzip-compressed module is decompressed first. Errors
// are *Error.
func (h *Host) Load(ctx context.Context, m Module) (*Pass, error) {
	p := &Pass{h: h, file: m.Path, name: moduleName(m.Path), trusted: m.Trusted}
	if m.Path == "" {
		p.file, p.name = "<bytes>", "<bytes>"
	}
	raw := m.Wasm
	if raw == nil {
		if m.Trusted {
			return nil, p.fail(ErrInvalidModule, errTrustedFile)
		}
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return nil, p.fail(ErrInvalidModule, err)
		}
		raw = b
	}
	wasm, err := moduleBytes(raw)
	if err != nil {
		return nil, p.fail(ErrInvalidModule, err)
	}
	p.sum = sha256.Sum256(wasm)
	if m.SHA256 != "" {
		want := strings.ToLower(strings.TrimSpace(m.SHA256))
		ok := want == hex.EncodeToString(p.sum[:])
		if !ok && len(raw) != len(wasm) { // compressed: the file's own sum pins it too
			gz := sha256.Sum256(raw)
			ok = want == hex.EncodeToString(gz[:])
		}
		if !ok {
			return nil, p.fail(ErrPinMismatch, fmt.Errorf("module is %x, pinned %s", p.sum, want))
		}
	}
	rt, err := h.runtime(ctx, m.Trusted)
	if err != nil {
		return nil, p.fail(ErrInvalidModule, err)
	}
	p.rt = rt
	cm, err := h.compile(ctx, rt, compileKey{p.sum, rt != h.rt}, wasm)
	if err != nil {
		return nil, p.fail(ErrInvalidModule, err)
	}
	p.cm = cm
	if err := p.checkImports(); err != nil {
		return nil, err
	}
	if err := p.checkExports(); err != nil {
		return nil, err
	}
	info, err := p.callInfo(ctx)
	if err != nil {
		return nil, err
	}
	p.info = info
	p.name = info.Name
	return p, nil
}

// LoadAll loads several modules, compiling them in parallel. It returns the
// passes in order, or the errors of every module that failed.
func (h *Host) LoadAll(ctx context.Context, ms []Module) ([]*Pass, error) {
	passes := make([]*Pass, len(ms))
	errs := make([]error, len(ms))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range ms {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			passes[i], errs[i] = h.Load(ctx, ms[i])
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return passes, nil
}

// compile compiles wasm once per distinct content and runtime.
func (h *Host) compile(ctx context.Context, rt wazero.Runtime, key compileKey, wasm []byte) (wazero.CompiledModule, error) {
	h.mu.Lock()
	c := h.compiled[key]
	if c == nil {
		c = &compileOnce{}
		h.compiled[key] = c
	}
	h.mu.Unlock()
	c.once.Do(func() {
		c.cm, c.err = rt.CompileModule(ctx, mergeDataSegments(wasm))
		if c.err != nil {
			c.err = fmt.Errorf("not a valid WebAssembly module: %w", c.err)
		}
	})
	if c.err != nil {
		// Do not cache failures caused by a cancelled context.
		if ctx.Err() != nil {
			h.mu.Lock()
			delete(h.compiled, key)
			h.mu.Unlock()
		}
		return nil, c.err
	}
	return c.cm, nil
}

// wasiFunctions are the WASI preview1 functions a pass may import. They are
// what the Go and C (wasi-libc) runtimes link. With no preopened directory
// the filesystem calls all fail with EBADF, but Go links them whenever a
// pass imports package os (even through fmt), so rejecting them would
// reject ordinary passes. Sockets are not offered.
var wasiFunctions = map[string]bool{
	"args_get": true, "args_sizes_get": true, "environ_get": true, "environ_sizes_get": true,
	"clock_res_get": true, "clock_time_get": true, "random_get": true, "sched_yield": true,
	"poll_oneoff": true, "proc_exit": true, "proc_raise": true,
	"fd_advise": true, "fd_allocate": true, "fd_close": true, "fd_datasync": true, "fd_fdstat_get": true,
	"fd_fdstat_set_flags": true, "fd_fdstat_set_rights": true, "fd_filestat_get": true, "fd_filestat_set_size": true,
	"fd_filestat_set_times": true, "fd_pread": true, "fd_prestat_dir_name": true, "fd_prestat_get": true,
	"fd_pwrite": true, "fd_read": true, "fd_readdir": true, "fd_renumber": true, "fd_seek": true, "fd_sync": true,
	"fd_tell": true, "fd_write": true,
	"path_create_directory": true, "path_filestat_get": true, "path_filestat_set_times": true, "path_link": true,
	"path_open": true, "path_readlink": true, "path_remove_directory": true, "path_rename": true,
	"path_symlink": true, "path_unlink_file": true,
}

// AllowedImports lists what a pass module may import, as "module.name".
func AllowedImports() []string {
	out := []string{abi.ImportModule + "." + abi.ImportLog}
	for name := range wasiFunctions {
		out = append(out, wasi_snapshot_preview1.ModuleName+"."+name)
	}
	sort.Strings(out[1:])
	return out
}

func (p *Pass) checkImports() error {
	for _, f := range p.cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == abi.ImportModule && name == abi.ImportLog:
			if !sameTypes(f.ParamTypes(), api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32) || len(f.ResultTypes()) != 0 {
				return p.fail(ErrForbiddenImport, fmt.Errorf("imports %s.%s with type %s, want (i32, i32, i32) -> ()", mod, name, signature(f)))
			}
		case mod == wasi_snapshot_preview1.ModuleName && wasiFunctions[name]:
		default:
			return p.fail(ErrForbiddenImport, fmt.Errorf("imports %s.%s, which the host does not provide (a pass may import graphpass.log and WASI preview1 without sockets)", mod, name))
		}
	}
	for _, m := range p.cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return p.fail(ErrForbiddenImport, fmt.Errorf("imports memory %s.%s; a pass must define and export its own memory", mod, name))
	}
	return nil
}

// markerVersions lists the ABI versions this host speaks, newest first,
// with their marker exports.
var markerVersions = []struct {
	version uint32
	marker  string
}{{abi.Version1, abi.ExportMarkerV1}}

func (p *Pass) checkExports() error {
	fns := p.cm.ExportedFunctions()
	p.version = 0
	for _, mv := range markerVersions {
		if _, ok := fns[mv.marker]; ok {
			p.version = mv.version
			break
		}
	}
	if p.version == 0 {
		var others []string
		for name := range fns {
			if strings.HasPrefix(name, "graphpass_abi_") {
				others = append(others, name)
			}
		}
		sort.Strings(others)
		if len(others) > 0 {
			return p.fail(ErrABIMismatch, fmt.Errorf("module exports %s; this host speaks only %s", strings.Join(others, ", "), abi.ExportMarkerV1))
		}
		return p.fail(ErrMissingExport, fmt.Errorf("no ABI marker export (%s): not a graphpass pass", abi.ExportMarkerV1))
	}
	want := []struct {
		name    string
		params  []api.ValueType
		results []api.ValueType
	}{
		{abi.ExportAlloc, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
		{abi.ExportInfo, nil, []api.ValueType{api.ValueTypeI64}},
		{abi.ExportRun, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
	}
	for _, w := range want {
		f, ok := fns[w.name]
		if !ok {
			return p.fail(ErrMissingExport, fmt.Errorf("export %s is missing", w.name))
		}
		if !sameTypes(f.ParamTypes(), w.params...) || !sameTypes(f.ResultTypes(), w.results...) {
			return p.fail(ErrABIMismatch, fmt.Errorf("export %s has type %s, want %s", w.name, signature(f), typeString(w.params, w.results)))
		}
	}
	if f, ok := fns[abi.ExportInitialize]; ok {
		if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
			return p.fail(ErrABIMismatch, fmt.Errorf("export %s has type %s, want () -> ()", abi.ExportInitialize, signature(f)))
		}
		p.hasInit = true
	}
	if _, ok := fns["_start"]; ok {
		return p.fail(ErrABIMismatch, errors.New("module exports _start: build it as a reactor (Go: -buildmode=c-shared; C: -mexec-model=reactor)"))
	}
	if _, ok := p.cm.ExportedMemories()[abi.ExportMemory]; !ok {
		return p.fail(ErrMissingExport, fmt.Errorf("export %s (linear memory) is missing", abi.ExportMemory))
	}
	return nil
}

func sameTypes(got []api.ValueType, want ...api.ValueType) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func signature(f api.FunctionDefinition) string { return typeString(f.ParamTypes(), f.ResultTypes()) }

func typeString(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		var s []string
		for _, t := range ts {
			s = append(s, api.ValueTypeName(t))
		}
		return strings.Join(s, ", ")
	}
	return "(" + names(params) + ") -> (" + names(results) + ")"
}
