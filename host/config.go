package host

import (
	"io"
	"os"
	"path/filepath"
	"time"
)

// Defaults of a Config.
const (
	// DefaultMemoryLimitPages bounds a pass's linear memory: 4096 pages of
	// 64 KiB, 256 MiB.
	DefaultMemoryLimitPages = 4096
	// DefaultCallTimeout bounds one call into a pass, instantiation and
	// _initialize included.
	DefaultCallTimeout = 10 * time.Second
	// DefaultOutputLimit bounds the encoded response of a pass. A patch of a
	// 28-layer model's full rewrite is well under 1 MiB.
	DefaultOutputLimit = 8 << 20
	// DefaultLogLimit bounds the log (graphpass.log, stdout, stderr) kept
	// per call; the rest is counted and dropped.
	DefaultLogLimit = 64 << 10
)

// Config configures a Host. It is an immutable value: each With method
// returns a changed copy. The zero value is not valid; use NewConfig.
type Config struct {
	memoryLimitPages uint32
	callTimeout      time.Duration
	outputLimit      int
	logLimit         int
	cacheDir         string
	logWriter        io.Writer
}

// NewConfig returns the default configuration: see the Default constants,
// and a disk compilation cache in DefaultCacheDir.
func NewConfig() Config {
	return Config{
		memoryLimitPages: DefaultMemoryLimitPages,
		callTimeout:      DefaultCallTimeout,
		outputLimit:      DefaultOutputLimit,
		logLimit:         DefaultLogLimit,
		cacheDir:         DefaultCacheDir(),
	}
}

// DefaultCacheDir is os.UserCacheDir()/graphpass/wazero, or "" (no disk
// cache) when the system has no user cache directory.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "graphpass", "wazero")
}

// WithMemoryLimitPages limits each pass instance's linear memory to pages
// of 64 KiB (default DefaultMemoryLimitPages, at most 65536). memory.grow
// past it fails inside the pass, which then usually aborts; the host
// reports ErrMemoryLimit.
func (c Config) WithMemoryLimitPages(pages uint32) Config {
	if pages == 0 || pages > 65536 {
		pages = 65536
	}
	c.memoryLimitPages = pages
	return c
}

// WithCallTimeout sets the deadline of one call into a pass (instantiation,
// _initialize and the call itself; default DefaultCallTimeout). When it
// passes, the module is closed mid-execution and the call fails with
// ErrDeadline.
//
// The deadline is not free: wazero then compiles a check into every loop
// head, and Go modules (whose every function is a loop) run about 3× slower
// (measured: see host/internal/benchmark). Modules loaded with
// Module.Trusted (the built-in passes) run without it whatever the
// configuration. d <= 0 removes the deadline and the checks for every
// module: only when every module is trusted as much as the host itself,
// since a pass that loops then hangs the host.
func (c Config) WithCallTimeout(d time.Duration) Config {
	c.callTimeout = d
	return c
}

// WithOutputLimit bounds the encoded response a pass may return, in bytes
// (default DefaultOutputLimit). A decoded response may take up to
// abi.MaxExpansion times its size in host memory, so keep it modest.
func (c Config) WithOutputLimit(n int) Config {
	c.outputLimit = n
	return c
}

// WithLogLimit bounds the bytes of log kept per call (default
// DefaultLogLimit).
func (c Config) WithLogLimit(n int) Config {
	c.logLimit = n
	return c
}

// WithCompilationCacheDir sets the directory of wazero's on-disk
// compilation cache (default DefaultCacheDir). A cached module loads in
// milliseconds instead of the ~0.5 s a Go pass takes to compile. "" keeps
// compiled code in memory only.
func (c Config) WithCompilationCacheDir(dir string) Config {
	c.cacheDir = dir
	return c
}

// WithLogWriter also writes every log line of every pass to w (default:
// none; lines are kept in reports either way). Lines look like
// "pass dropout: info: 3 rewrites".
func (c Config) WithLogWriter(w io.Writer) Config {
	c.logWriter = w
	return c
}

// MemoryLimitPages returns the memory limit in 64 KiB pages.
func (c Config) MemoryLimitPages() uint32 { return c.memoryLimitPages }

// CallTimeout returns the per-call deadline.
func (c Config) CallTimeout() time.Duration { return c.callTimeout }

// OutputLimit returns the response size limit in bytes.
func (c Config) OutputLimit() int { return c.outputLimit }

// LogLimit returns the per-call log limit in bytes.
func (c Config) LogLimit() int { return c.logLimit }

// CompilationCacheDir returns the on-disk cache directory, "" for none.
func (c Config) CompilationCacheDir() string { return c.cacheDir }
