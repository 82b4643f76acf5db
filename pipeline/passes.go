package pipeline

import (
	"fmt"
	"os"
	"strings"

	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/passes"
)

// ResolvedPass is a pass of a spec ready to load: a built-in module or a
// .wasm file, with its options.
type ResolvedPass struct {
	// Name is the pass's name: the built-in's, or (once loaded) what the
	// module's info says. Version is known once loaded.
	Name    string
	Version string
	Builtin bool
	// Path is the .wasm file of a non-built-in pass; SHA256 pins it.
	Path    string
	SHA256  string
	Options string // JSON object
	OnError OnError
	Line    int // where the spec lists it
}

// Label names the pass for messages: its name, or its file.
func (r ResolvedPass) Label() string {
	if r.Builtin || r.Name != "" {
		return r.Name
	}
	return r.Path
}

func (r ResolvedPass) module() host.Module {
	if r.Builtin {
		// The module is the embedded copy of this repository file, pinned
		// and trusted: it ships inside the binary, so it runs without the
		// deadline's per-loop checks (host.Module.Trusted) and ~3× faster.
		b, _ := passes.Lookup(r.Name) // resolved from the registry: it exists
		m := b.Module()
		m.Path = "passes/" + r.Name + "/" + r.Name + ".wasm.gz"
		return m
	}
	return host.Module{Path: r.Path, SHA256: r.SHA256}
}

// ResolvePasses turns the spec's passes: into the list to run: "default"
// expands to the default passes (only those in only:, with the seed's
// implications), names must be built-in passes, and .wasm files must exist.
func ResolvePasses(s *Spec) ([]ResolvedPass, error) {
	errAt := func(line int, format string, args ...any) error {
		return &SpecError{File: s.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	var out []ResolvedPass
	usesDefaults := false
	for _, ps := range s.Passes {
		opts := ps.Options
		if opts == "" {
			opts = "{}"
		}
		switch {
		case ps.Defaults:
			usesDefaults = true
			names, err := defaultPassNames(s.Only)
			if err != nil {
				return nil, errAt(ps.Line, "only: %v", err)
			}
			for _, name := range names {
				out = append(out, ResolvedPass{Name: name, Builtin: true, Options: "{}", OnError: ps.OnError, Line: ps.Line})
			}
		case ps.Name != "":
			if !builtinPass(ps.Name) {
				return nil, errAt(ps.Line, "unknown pass %q (built in: %s; or give a .wasm path)", ps.Name, strings.Join(builtinPassNames(), ", "))
			}
			out = append(out, ResolvedPass{Name: ps.Name, Builtin: true, Options: opts, OnError: ps.OnError, Line: ps.Line})
		default:
			st, err := os.Stat(ps.Path)
			switch {
			case err != nil:
				return nil, errAt(ps.Line, "pass file %s: no such file", ps.Path)
			case st.IsDir():
				return nil, errAt(ps.Line, "pass file %s is a directory", ps.Path)
			}
			out = append(out, ResolvedPass{Path: ps.Path, SHA256: ps.SHA256, Options: opts, OnError: ps.OnError, Line: ps.Line})
		}
	}
	if len(s.Only) > 0 && !usesDefaults {
		return nil, errAt(0, "only: selects among the default passes, but passes: does not list default")
	}
	return out, nil
}

// builtinPass reports whether name is a built-in pass with a module.
func builtinPass(name string) bool {
	b, ok := passes.Lookup(name)
	return ok && len(b.Wasm) > 0
}

func builtinPassNames() []string { return passes.Names() }

// defaultPassNames expands only: (empty: every default pass).
func defaultPassNames(only []string) ([]string, error) { return passes.Expand(only) }
