package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/graphpass/graphpass/backend"
)

// BinaryPrefix starts the file name of every runtime plugin executable:
// runtime "cuda" is pipeline-runtime-cuda.
const BinaryPrefix = "pipeline-runtime-"

// EnvPluginDir names the environment variable that lists directories of
// plugin executables (separated like PATH).
const EnvPluginDir = "GRAPHPASS_PLUGIN_DIR"

// ServeArgs are the arguments that make an executable embedding runtimes
// serve one of them: `pipeline plugin serve NAME`.
var ServeArgs = []string{"plugin", "serve"}

// ErrNotFound is wrapped when no plugin executable exists for a runtime.
var ErrNotFound = errors.New("runtime plugin not found")

// Binary is a plugin executable and how to start it.
type Binary struct {
	Name   string   // the runtime asked for, e.g. "cpu"
	Path   string   // the executable
	Args   []string // its arguments (ServeArgs + name for an embedded runtime)
	Env    []string // extra environment, KEY=value
	Source string   // where it was found: "path", "$GRAPHPASS_PLUGIN_DIR", "plugin dir", "next to the CLI", "embedded"
}

var embedded struct {
	sync.Mutex
	open map[string]func() (backend.Runtime, error)
}

// RegisterEmbedded declares that this executable can serve runtime name
// itself (Find then re-executes it with ServeArgs), opening the runtime
// with open. The CLI registers "cpu"; GPU runtimes register themselves
// where they build.
func RegisterEmbedded(name string, open func() (backend.Runtime, error)) {
	embedded.Lock()
	defer embedded.Unlock()
	if embedded.open == nil {
		embedded.open = map[string]func() (backend.Runtime, error){}
	}
	embedded.open[name] = open
}

// Embedded returns the opener of an embedded runtime.
func Embedded(name string) (func() (backend.Runtime, error), bool) {
	embedded.Lock()
	defer embedded.Unlock()
	open, ok := embedded.open[name]
	return open, ok
}

// EmbeddedNames lists the embedded runtimes, sorted.
func EmbeddedNames() []string {
	embedded.Lock()
	defer embedded.Unlock()
	names := make([]string, 0, len(embedded.open))
	for n := range embedded.open {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FindOptions tune Find.
type FindOptions struct {
	// Dirs are configured plugin directories (pipeline.yaml plugin_dir),
	// searched after $GRAPHPASS_PLUGIN_DIR.
	Dirs []string
	// Self is the executable that serves embedded runtimes and next to
	// which plugins are looked for. Default: os.Executable().
	Self string
	// SelfArgs replaces ServeArgs when re-executing Self (tests).
	SelfArgs []string
	// Env is added to the environment of an embedded runtime's process.
	Env []string
}

// IsPath reports whether a runtime name is a file path rather than a name
// (it contains a path separator).
func IsPath(nameOrPath string) bool {
	return strings.ContainsRune(nameOrPath, '/') || strings.ContainsRune(nameOrPath, filepath.Separator)
}

// Find locates the plugin executable for a runtime, in this order:
//
//  1. an explicit path (nameOrPath contains a path separator);
//  2. BinaryPrefix+name in each directory of $GRAPHPASS_PLUGIN_DIR;
//  3. BinaryPrefix+name in each of opts.Dirs;
//  4. BinaryPrefix+name next to the running executable;
//  5. the running executable itself, when it embeds the runtime
//     (RegisterEmbedded): started as `SELF plugin serve NAME`.
//
// Installed plugins thus override embedded ones, and the CLI alone always
// has its embedded cpu runtime.
func Find(nameOrPath string, opts FindOptions) (*Binary, error) {
	if nameOrPath == "" {
		return nil, notFound("empty runtime name")
	}
	if IsPath(nameOrPath) {
		p, err := filepath.Abs(nameOrPath)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, notFound("runtime plugin %s: no such file", nameOrPath)
		}
		if st.IsDir() {
			return nil, notFound("runtime plugin %s is a directory", nameOrPath)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), BinaryPrefix), ".exe")
		return &Binary{Name: name, Path: p, Source: "path"}, nil
	}
	file := BinaryPrefix + nameOrPath
	if runtime.GOOS == "windows" {
		file += ".exe"
	}
	var searched []string
	look := func(dirs []string, source string) *Binary {
		for _, d := range dirs {
			if d == "" {
				continue
			}
			p := filepath.Join(d, file)
			searched = append(searched, d)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				if abs, err := filepath.Abs(p); err == nil {
					p = abs
				}
				return &Binary{Name: nameOrPath, Path: p, Source: source}
			}
		}
		return nil
	}
	if b := look(filepath.SplitList(os.Getenv(EnvPluginDir)), "$"+EnvPluginDir); b != nil {
		return b, nil
	}
	if b := look(opts.Dirs, "plugin dir"); b != nil {
		return b, nil
	}
	self := opts.Self
	if self == "" {
		if exe, err := os.Executable(); err == nil {
			self = exe
		}
	}
	if self != "" {
		if b := look([]string{filepath.Dir(self)}, "next to the CLI"); b != nil {
			return b, nil
		}
	}
	if _, ok := Embedded(nameOrPath); ok && self != "" {
		args := opts.SelfArgs
		if args == nil {
			args = ServeArgs
		}
		return &Binary{Name: nameOrPath, Path: self, Args: append(append([]string(nil), args...), nameOrPath),
			Env: opts.Env, Source: "embedded"}, nil
	}
	msg := fmt.Sprintf("unknown runtime %q: no %s in %s", nameOrPath, file, strings.Join(searched, ", "))
	if len(searched) == 0 {
		msg = fmt.Sprintf("unknown runtime %q: no plugin directories to search", nameOrPath)
	}
	if names := EmbeddedNames(); len(names) > 0 {
		msg += "; built in: " + strings.Join(names, ", ")
	}
	return nil, notFound("%s", msg)
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

func notFound(format string, args ...any) error {
	return &notFoundError{fmt.Sprintf(format, args...)}
}
