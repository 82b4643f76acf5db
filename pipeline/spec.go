package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/graphpass/graphpass/examples"
)

// SpecVersion is the pipeline.yaml format version this package reads.
const SpecVersion = 1

// Spec is a parsed pipeline.yaml. Paths in it are absolute (resolved
// against the directory of the file).
type Spec struct {
	// File is where the spec was read from ("" when built in code or
	// embedded); messages name it.
	File string
	// Model is the checkpoint directory; "" means the bundled model.
	Model string
	// Graph chooses the shape of the graph the model builder emits, so
	// the seed's rewrites for merged decoders, attention outputs and
	// expanded GQA caches have something to do.
	Graph GraphSpec
	// Runtime says where the rewritten graph runs.
	Runtime RuntimeSpec
	// Passes is the ordered list of passes, as written; Resolve expands
	// the default set and applies Only.
	Passes []PassSpec
	// Only selects among the default passes (the seed's only:); empty
	// means all of them. Applies wherever the defaults are used.
	Only []string
	// Verify is the translation-validation mode.
	Verify VerifyMode
	// Generate holds the generation settings.
	Generate GenerateSpec
}

// GraphSpec mirrors model.BuildOptions.
type GraphSpec struct {
	MergedDecoder       bool // wrap cache updates in If(use_cache_branch)
	AttentionOutputs    bool // add attentions.<i> outputs
	HiddenStates        bool // add hidden_states.<i> outputs
	ExpandKVBeforeCache bool // repeat GQA heads before the cache concat
}

// RuntimeSpec selects a runtime.
type RuntimeSpec struct {
	// Name is "inproc" (the cpu runtime in this process), or the name of a
	// runtime plugin ("cpu", "cuda", "metal", …). Empty with Path set.
	Name string
	// Path is an explicit plugin executable.
	Path string
	// SHA256 pins the plugin executable's checksum (hex).
	SHA256 string
	// PluginDirs are searched for pipeline-runtime-<name> executables
	// (after $GRAPHPASS_PLUGIN_DIR).
	PluginDirs []string
	// Threads is the CPU worker count (0 = all cores).
	Threads int
	// CallTimeout bounds each call into a plugin (0 = the default, 2 min).
	CallTimeout time.Duration
}

// Label is the runtime as a user would name it.
func (r RuntimeSpec) Label() string {
	if r.Path != "" {
		return r.Path
	}
	return r.Name
}

// OnError says what a failing pass does to the pipeline.
type OnError string

const (
	OnErrorFail OnError = "fail" // stop with the pass's error (default)
	OnErrorSkip OnError = "skip" // record the error, keep the graph as it was, go on
)

// PassSpec is one entry of passes:.
type PassSpec struct {
	// Name is a built-in pass; Defaults marks the entry "default" (all
	// default passes, after Only); Path is a .wasm module. Exactly one.
	Name     string
	Defaults bool
	Path     string
	// SHA256 pins a .wasm module's checksum (hex).
	SHA256 string
	// Options is the pass's options as JSON ("{}" when none).
	Options string
	// OnError overrides the spec's on_error for this pass.
	OnError OnError
	// Line is the line of the entry in the spec file, for messages.
	Line int
}

// Label names the pass as a user wrote it.
func (p PassSpec) Label() string {
	switch {
	case p.Path != "":
		return p.Path
	case p.Defaults:
		return "default"
	}
	return p.Name
}

// VerifyMode is the translation-validation mode.
type VerifyMode string

const (
	VerifyNone       VerifyMode = "none"       // trust the passes
	VerifyStructural VerifyMode = "structural" // verify every patched graph (types, shapes, acyclic, outputs kept)
	VerifyNumeric    VerifyMode = "numeric"    // also evaluate every rewrite's before/after subgraphs on random inputs
)

// GenerateSpec holds the generation settings.
type GenerateSpec struct {
	// Prompt is text to tokenize (with the model's tokenizer); IDs are
	// token ids given directly, one row per sequence. At most one.
	Prompt string
	IDs    [][]int32
	// Chat renders Prompt through the model's chat template as one user
	// message (after System, when set) with the generation prompt added.
	Chat   bool
	System string
	// MaxNewTokens bounds the new tokens per row (default 32).
	MaxNewTokens int
	// IgnoreEOS keeps generating past end-of-sequence tokens.
	IgnoreEOS bool
	// Sampling overrides the model's generation_config.json; unset
	// fields keep it. A model without one decodes greedily.
	Sampling Sampling
}

// DefaultMaxNewTokens is GenerateSpec.MaxNewTokens when not set.
const DefaultMaxNewTokens = 32

// Sampling settings; nil means "as the model's generation config says".
type Sampling struct {
	DoSample          *bool
	Temperature       *float64
	TopK              *int
	TopP              *float64
	MinP              *float64
	RepetitionPenalty *float64
	Seed              *uint64
}

// SpecError is a problem at a place in a spec file.
type SpecError struct {
	File string // "" for a spec not read from a file
	Line int    // 0 when unknown
	Msg  string
}

func (e *SpecError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Msg
	case e.Line > 0:
		return fmt.Sprintf("pipeline spec line %d: %s", e.Line, e.Msg)
	}
	return "pipeline spec: " + e.Msg
}

// ReadFile reads and parses a pipeline.yaml; relative paths in it resolve
// against its directory.
func ReadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &SpecError{File: path, Msg: "no such file"}
		}
		return nil, &SpecError{File: path, Msg: err.Error()}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		var se *SpecError
		if errors.As(err, &se) && se.File == "" {
			se.File = path
		}
		return nil, err
	}
	s.File = path
	return s, nil
}

// Parse parses pipeline.yaml bytes; relative paths resolve against dir.
// Parsing checks the syntax and the types; Check and Resolve check names
// against the pass registry and the runtimes.
func Parse(data []byte, dir string) (*Spec, error) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	p := &parser{dir: dir}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &SpecError{Line: extra.Line, Msg: "more than one YAML document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	s := &Spec{Verify: VerifyNone, Runtime: RuntimeSpec{Name: "cpu"}}
	s.Generate.MaxNewTokens = DefaultMaxNewTokens
	if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		root = &yaml.Node{Kind: yaml.MappingNode} // an empty file: all defaults
	}
	onError := OnErrorFail
	err := p.mapping(root, "pipeline spec", map[string]func(*yaml.Node) error{
		"version": func(n *yaml.Node) error {
			v, err := p.int(n, "version")
			if err == nil && v != SpecVersion {
				err = p.errf(n, "version %d: this pipeline reads version %d", v, SpecVersion)
			}
			return err
		},
		"model": func(n *yaml.Node) (err error) {
			s.Model, err = p.path(n, "model")
			return err
		},
		"graph": func(n *yaml.Node) error {
			return p.mapping(n, "graph", map[string]func(*yaml.Node) error{
				"merged_decoder":         p.boolField(&s.Graph.MergedDecoder, "graph merged_decoder"),
				"attention_outputs":      p.boolField(&s.Graph.AttentionOutputs, "graph attention_outputs"),
				"hidden_states":          p.boolField(&s.Graph.HiddenStates, "graph hidden_states"),
				"expand_kv_before_cache": p.boolField(&s.Graph.ExpandKVBeforeCache, "graph expand_kv_before_cache"),
			})
		},
		"runtime":  func(n *yaml.Node) error { return p.runtime(n, &s.Runtime) },
		"passes":   func(n *yaml.Node) (err error) { s.Passes, err = p.passes(n); return err },
		"only":     func(n *yaml.Node) (err error) { s.Only, err = p.strings(n, "only"); return err },
		"on_error": func(n *yaml.Node) (err error) { onError, err = p.onError(n); return err },
		"verify": func(n *yaml.Node) error {
			v, err := p.enum(n, "verify", string(VerifyNone), string(VerifyStructural), string(VerifyNumeric))
			s.Verify = VerifyMode(v)
			return err
		},
		"generate": func(n *yaml.Node) error { return p.generate(n, &s.Generate) },
	})
	if err != nil {
		return nil, err
	}
	if s.Passes == nil {
		s.Passes = []PassSpec{{Defaults: true}}
	}
	for i := range s.Passes {
		if s.Passes[i].OnError == "" {
			s.Passes[i].OnError = onError
		}
	}
	return s, nil
}

type parser struct{ dir string }

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &SpecError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: mapping values
// are not allowed in this context") into a SpecError with the line.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if line, err := strconv.Atoi(rest[:i]); err == nil {
				return &SpecError{Line: line, Msg: "malformed YAML: " + rest[i+2:]}
			}
		}
	}
	return &SpecError{Msg: "malformed YAML: " + msg}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "a YAML node"
}

// mapping walks a mapping node, calling the handler of each key; unknown
// keys and duplicate keys are errors that list the known ones.
func (p *parser) mapping(n *yaml.Node, what string, keys map[string]func(*yaml.Node) error) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s: expected a mapping, got %s", what, kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "<<" {
			return p.errf(k, "%s: keys must be plain names", what)
		}
		h, ok := keys[k.Value]
		if !ok {
			known := make([]string, 0, len(keys))
			for name := range keys {
				known = append(known, name)
			}
			sort.Strings(known)
			return p.errf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return p.errf(k, "duplicate key %q in %s", k.Value, what)
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if err := h(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s: expected a value, got %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p *parser) str(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", p.errf(n, "%s: expected a string, got %s", what, kindName(n))
	}
	return n.Value, nil
}

func (p *parser) int(n *yaml.Node, what string) (int, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, p.errf(n, "%s: expected an integer, got %s", what, kindName(n))
	}
	v, err := strconv.ParseInt(n.Value, 0, 32)
	if err != nil {
		return 0, p.errf(n, "%s: %s is not a 32-bit integer", what, n.Value)
	}
	return int(v), nil
}

func (p *parser) float(n *yaml.Node, what string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, p.errf(n, "%s: expected a number, got %s", what, kindName(n))
	}
	var v float64
	if err := n.Decode(&v); err != nil {
		return 0, p.errf(n, "%s: %v", what, err)
	}
	return v, nil
}

func (p *parser) bool(n *yaml.Node, what string) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, p.errf(n, "%s: expected true or false, got %s", what, kindName(n))
	}
	var v bool
	err := n.Decode(&v)
	return v, err
}

func (p *parser) boolField(dst *bool, what string) func(*yaml.Node) error {
	return func(n *yaml.Node) (err error) {
		*dst, err = p.bool(n, what)
		return err
	}
}

func (p *parser) enum(n *yaml.Node, what string, values ...string) (string, error) {
	v, err := p.str(n, what)
	if err != nil {
		return "", err
	}
	for _, ok := range values {
		if v == ok {
			return v, nil
		}
	}
	return "", p.errf(n, "%s: %q is not one of %s", what, v, strings.Join(values, ", "))
}

func (p *parser) onError(n *yaml.Node) (OnError, error) {
	v, err := p.enum(n, "on_error", string(OnErrorFail), string(OnErrorSkip))
	return OnError(v), err
}

func (p *parser) strings(n *yaml.Node, what string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s: expected a list, got %s", what, kindName(n))
	}
	out := []string{}
	for _, e := range n.Content {
		v, err := p.str(e, what+" entry")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// path reads a file path, resolved against the spec's directory; "~/"
// expands to the home directory.
func (p *parser) path(n *yaml.Node, what string) (string, error) {
	v, err := p.str(n, what)
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", p.errf(n, "%s: empty path", what)
	}
	if rest, ok := strings.CutPrefix(v, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			v = filepath.Join(home, rest)
		}
	}
	if !filepath.IsAbs(v) {
		v = filepath.Join(p.dir, v)
	}
	return filepath.Clean(v), nil
}

func (p *parser) sha256(n *yaml.Node, what string) (string, error) {
	v, err := p.scalar(n, what) // all digits reads as a YAML number
	if err != nil {
		return "", err
	}
	v = strings.ToLower(v)
	if len(v) != 64 || strings.Trim(v, "0123456789abcdef") != "" {
		return "", p.errf(n, "%s: %q is not a sha256 (64 hex digits)", what, v)
	}
	return v, nil
}

// isPathName tells a runtime or pass path from a bare name.
func isPathName(s string) bool {
	return strings.ContainsAny(s, `/\`) || strings.HasSuffix(s, ".wasm")
}

func (p *parser) runtime(n *yaml.Node, r *RuntimeSpec) error {
	if n.Kind == yaml.ScalarNode {
		v, err := p.str(n, "runtime")
		if err != nil {
			return err
		}
		return p.runtimeName(n, v, r)
	}
	*r = RuntimeSpec{}
	err := p.mapping(n, "runtime", map[string]func(*yaml.Node) error{
		"name": func(n *yaml.Node) error {
			v, err := p.str(n, "runtime name")
			if err != nil {
				return err
			}
			if isPathName(v) {
				return p.errf(n, "runtime name %q looks like a path: use path:", v)
			}
			return p.runtimeName(n, v, r)
		},
		"path": func(n *yaml.Node) (err error) {
			r.Path, err = p.path(n, "runtime path")
			return err
		},
		"sha256": func(n *yaml.Node) (err error) {
			r.SHA256, err = p.sha256(n, "runtime sha256")
			return err
		},
		"plugin_dir": func(n *yaml.Node) error {
			if n.Kind == yaml.SequenceNode {
				for _, e := range n.Content {
					d, err := p.path(e, "runtime plugin_dir entry")
					if err != nil {
						return err
					}
					r.PluginDirs = append(r.PluginDirs, d)
				}
				return nil
			}
			d, err := p.path(n, "runtime plugin_dir")
			r.PluginDirs = append(r.PluginDirs, d)
			return err
		},
		"threads": func(n *yaml.Node) (err error) {
			r.Threads, err = p.int(n, "runtime threads")
			if err == nil && r.Threads < 0 {
				err = p.errf(n, "runtime threads: %d is negative", r.Threads)
			}
			return err
		},
		"timeout": func(n *yaml.Node) error {
			v, err := p.str(n, "runtime timeout")
			if err != nil {
				return err
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return p.errf(n, "runtime timeout: %q is not a positive duration such as 30s or 5m", v)
			}
			r.CallTimeout = d
			return nil
		},
	})
	if err != nil {
		return err
	}
	switch {
	case r.Name == "" && r.Path == "":
		return p.errf(n, "runtime: give name: or path:")
	case r.Name != "" && r.Path != "":
		return p.errf(n, "runtime: give name: or path:, not both")
	case r.SHA256 != "" && r.Name == "inproc":
		return p.errf(n, "runtime: sha256 pins a plugin executable; inproc has none")
	}
	return nil
}

func (p *parser) runtimeName(n *yaml.Node, v string, r *RuntimeSpec) error {
	if v == "" {
		return p.errf(n, "runtime: empty name")
	}
	if isPathName(v) {
		path, err := p.path(n, "runtime")
		r.Name, r.Path = "", path
		return err
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return p.errf(n, "runtime: %q is not a runtime name (lower-case letters, digits, - and _) or a path", v)
		}
	}
	r.Name = v
	return nil
}

func (p *parser) passes(n *yaml.Node) ([]PassSpec, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		switch n.Value {
		case "default":
			return []PassSpec{{Defaults: true, Line: n.Line}}, nil
		case "none":
			return []PassSpec{}, nil
		}
		return nil, p.errf(n, `passes: expected "default", "none" or a list, got %q`, n.Value)
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, `passes: expected "default", "none" or a list, got %s`, kindName(n))
	}
	out := []PassSpec{}
	for _, e := range n.Content {
		if e.Kind == yaml.AliasNode {
			e = e.Alias
		}
		ps := PassSpec{Line: e.Line}
		if e.Kind == yaml.ScalarNode {
			v, err := p.str(e, "passes entry")
			if err != nil {
				return nil, err
			}
			if err := p.passRef(e, v, &ps); err != nil {
				return nil, err
			}
			out = append(out, ps)
			continue
		}
		err := p.mapping(e, "passes entry", map[string]func(*yaml.Node) error{
			"name": func(n *yaml.Node) error {
				v, err := p.str(n, "pass name")
				if err != nil {
					return err
				}
				if isPathName(v) {
					return p.errf(n, "pass name %q looks like a path: use path:", v)
				}
				return p.passRef(n, v, &ps)
			},
			"path": func(n *yaml.Node) (err error) {
				ps.Path, err = p.path(n, "pass path")
				return err
			},
			"sha256": func(n *yaml.Node) (err error) {
				ps.SHA256, err = p.sha256(n, "pass sha256")
				return err
			},
			"options": func(n *yaml.Node) (err error) {
				ps.Options, err = p.options(n)
				return err
			},
			"on_error": func(n *yaml.Node) (err error) {
				ps.OnError, err = p.onError(n)
				return err
			},
		})
		if err != nil {
			return nil, err
		}
		switch {
		case ps.Name == "" && ps.Path == "" && !ps.Defaults:
			return nil, p.errf(e, "passes entry: give name: or path:")
		case (ps.Name != "" || ps.Defaults) && ps.Path != "":
			return nil, p.errf(e, "passes entry: give name: or path:, not both")
		case ps.SHA256 != "" && ps.Path == "":
			return nil, p.errf(e, "passes entry %s: sha256 pins a .wasm file; built-in passes are pinned by the build", ps.Label())
		case ps.Defaults && ps.Options != "":
			return nil, p.errf(e, "passes entry default: options apply to one pass; list it by name")
		}
		out = append(out, ps)
	}
	return out, nil
}

func (p *parser) passRef(n *yaml.Node, v string, ps *PassSpec) error {
	switch {
	case v == "":
		return p.errf(n, "passes entry: empty name")
	case v == "default":
		ps.Defaults = true
	case isPathName(v):
		path, err := p.path(n, "pass path")
		if err != nil {
			return err
		}
		ps.Path = path
	default:
		ps.Name = v
	}
	return nil
}

// options turns an options mapping into the JSON the pass receives.
func (p *parser) options(n *yaml.Node) (string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return "{}", nil
	}
	if n.Kind != yaml.MappingNode {
		return "", p.errf(n, "pass options: expected a mapping, got %s", kindName(n))
	}
	v, err := jsonValue(n)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", p.errf(n, "pass options: %v", err)
	}
	return string(b), nil
}

// jsonValue converts a YAML node to a value encoding/json can write, with
// string keys only.
func jsonValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return jsonValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, &SpecError{Line: k.Line, Msg: "pass options: keys must be strings"}
			}
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := []any{}
		for _, e := range n.Content {
			v, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, &SpecError{Line: n.Line, Msg: "pass options: " + err.Error()}
	}
	if f, ok := v.(float64); ok && (f != f || f > 1e308 || f < -1e308) {
		return nil, &SpecError{Line: n.Line, Msg: "pass options: " + n.Value + " has no JSON form"}
	}
	return v, nil
}

func (p *parser) generate(n *yaml.Node, g *GenerateSpec) error {
	s := &g.Sampling
	err := p.mapping(n, "generate", map[string]func(*yaml.Node) error{
		"prompt": func(n *yaml.Node) (err error) { g.Prompt, err = p.str(n, "generate prompt"); return err },
		"ids":    func(n *yaml.Node) (err error) { g.IDs, err = p.ids(n); return err },
		"chat":   func(n *yaml.Node) (err error) { g.Chat, err = p.bool(n, "generate chat"); return err },
		"system": func(n *yaml.Node) (err error) { g.System, err = p.str(n, "generate system"); return err },
		"max_new_tokens": func(n *yaml.Node) (err error) {
			g.MaxNewTokens, err = p.int(n, "generate max_new_tokens")
			if err == nil && g.MaxNewTokens < 0 {
				err = p.errf(n, "generate max_new_tokens: %d is negative", g.MaxNewTokens)
			}
			return err
		},
		"ignore_eos": func(n *yaml.Node) (err error) { g.IgnoreEOS, err = p.bool(n, "generate ignore_eos"); return err },
		"sampling": func(n *yaml.Node) error {
			return p.mapping(n, "generate sampling", map[string]func(*yaml.Node) error{
				"do_sample": func(n *yaml.Node) error {
					v, err := p.bool(n, "sampling do_sample")
					s.DoSample = &v
					return err
				},
				"temperature":        p.floatField(&s.Temperature, "sampling temperature", 0, 1e6),
				"top_p":              p.floatField(&s.TopP, "sampling top_p", 0, 1),
				"min_p":              p.floatField(&s.MinP, "sampling min_p", 0, 1),
				"repetition_penalty": p.floatField(&s.RepetitionPenalty, "sampling repetition_penalty", 0, 1e6),
				"top_k": func(n *yaml.Node) error {
					v, err := p.int(n, "sampling top_k")
					if err == nil && v < 0 {
						err = p.errf(n, "sampling top_k: %d is negative", v)
					}
					s.TopK = &v
					return err
				},
				"seed": func(n *yaml.Node) error {
					if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
						return p.errf(n, "sampling seed: expected an integer, got %s", kindName(n))
					}
					v, err := strconv.ParseUint(n.Value, 0, 64)
					if err != nil {
						return p.errf(n, "sampling seed: %s is not an unsigned 64-bit integer", n.Value)
					}
					s.Seed = &v
					return nil
				},
			})
		},
	})
	if err != nil {
		return err
	}
	if g.Prompt != "" && g.IDs != nil {
		return p.errf(n, "generate: give prompt: or ids:, not both")
	}
	if g.Chat && g.IDs != nil {
		return p.errf(n, "generate: chat: renders a prompt: text; it cannot apply to ids:")
	}
	if g.System != "" && !g.Chat {
		return p.errf(n, "generate: system: needs chat: true")
	}
	return nil
}

func (p *parser) floatField(dst **float64, what string, lo, hi float64) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		v, err := p.float(n, what)
		if err != nil {
			return err
		}
		if v < lo || v > hi || v != v {
			return p.errf(n, "%s: %v is outside [%v, %v]", what, v, lo, hi)
		}
		*dst = &v
		return nil
	}
}

// ids reads a list of token ids, or a list of such lists (one per row).
func (p *parser) ids(n *yaml.Node) ([][]int32, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "generate ids: expected a non-empty list of token ids (or of lists, one per row)")
	}
	row := func(n *yaml.Node) ([]int32, error) {
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
			return nil, p.errf(n, "generate ids: expected a non-empty list of token ids, got %s", kindName(n))
		}
		var r []int32
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag != "!!int" {
				return nil, p.errf(e, "generate ids: expected a token id, got %s", kindName(e))
			}
			v, err := strconv.ParseInt(e.Value, 0, 32)
			if err != nil || v < 0 {
				return nil, p.errf(e, "generate ids: %s is not a token id", e.Value)
			}
			r = append(r, int32(v))
		}
		return r, nil
	}
	if n.Content[0].Kind == yaml.SequenceNode {
		var rows [][]int32
		for _, e := range n.Content {
			r, err := row(e)
			if err != nil {
				return nil, err
			}
			rows = append(rows, r)
		}
		return rows, nil
	}
	r, err := row(n)
	if err != nil {
		return nil, err
	}
	return [][]int32{r}, nil
}

// DefaultFile names the built-in default spec in messages.
const DefaultFile = "examples/default.yaml (built in)"

// Default returns the built-in default spec (examples/default.yaml): the
// bundled model, the default passes, the cpu runtime plugin.
func Default() *Spec {
	s, err := Parse(examples.Default, ".")
	if err != nil {
		panic("pipeline: built-in default spec: " + err.Error())
	}
	s.File = DefaultFile
	return s
}
