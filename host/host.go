package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	rt    wazero.Runtime
	cache wazero.CompilationCache

	mu       sync.Mutex
	compiled map[[sha256.Size]byte]*compileOnce
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
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.memoryLimitPages).
		WithCloseOnContextDone(cfg.callTimeout > 0).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	h := &Host{cfg: cfg, rt: rt, cache: cache, compiled: map[[sha256.Size]byte]*compileOnce{}}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = h.Close(ctx)
		return nil, fmt.Errorf("host: WASI: %w", err)
	}
	if _, err := rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(hostLog).Export(abi.ImportLog).
		Instantiate(ctx); err != nil {
		_ = h.Close(ctx)
		return nil, fmt.Errorf("host: %s module: %w", abi.ImportModule, err)
	}
	return h, nil
}

// Config returns the host's configuration.
func (h *Host) Config() Config { return h.cfg }

// Close releases the runtime and every compiled module. Passes of a closed
// Host fail.
func (h *Host) Close(ctx context.Context) error {
	err := h.rt.Close(ctx)
	if cerr := h.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Module names a pass module to load.
type Module struct {
	// Path is the .wasm file. With Wasm set, it only names the module in
	// errors and reports.
	Path string
	// Wasm is the module's bytes; nil reads Path.
	Wasm []byte
	// SHA256, when not empty, pins the module: its hex SHA-256 must match.
	SHA256 string
}

// LoadFile loads the pass module at path. See Load.
func (h *Host) LoadFile(ctx context.Context, path string) (*Pass, error) {
	return h.Load(ctx, Module{Path: path})
}

// Load compiles a pass module (or reuses it, when one with the same bytes
// was loaded before), checks its imports and exports, and calls its
// graphpass_info. Errors are *Error.
func (h *Host) Load(ctx context.Context, m Module) (*Pass, error) {
	p := &Pass{h: h, file: m.Path, name: strings.TrimSuffix(filepath.Base(m.Path), ".wasm")}
	if m.Path == "" {
		p.file, p.name = "<bytes>", "<bytes>"
	}
	wasm := m.Wasm
	if wasm == nil {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return nil, p.fail(ErrInvalidModule, err)
		}
		wasm = b
	}
	p.sum = sha256.Sum256(wasm)
	if m.SHA256 != "" {
		if want := strings.ToLower(strings.TrimSpace(m.SHA256)); want != hex.EncodeToString(p.sum[:]) {
			return nil, p.fail(ErrPinMismatch, fmt.Errorf("module is %x, pinned %s", p.sum, want))
		}
	}
	cm, err := h.compile(ctx, p.sum, wasm)
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

// compile compiles wasm once per distinct content.
func (h *Host) compile(ctx context.Context, sum [sha256.Size]byte, wasm []byte) (wazero.CompiledModule, error) {
	h.mu.Lock()
	c := h.compiled[sum]
	if c == nil {
		c = &compileOnce{}
		h.compiled[sum] = c
	}
	h.mu.Unlock()
	c.once.Do(func() {
		c.cm, c.err = h.rt.CompileModule(ctx, wasm)
		if c.err != nil {
			c.err = fmt.Errorf("not a valid WebAssembly module: %w", c.err)
		}
	})
	if c.err != nil {
		// Do not cache failures caused by a cancelled context.
		if ctx.Err() != nil {
			h.mu.Lock()
			delete(h.compiled, sum)
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
