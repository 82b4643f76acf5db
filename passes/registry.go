// Package passes holds the built-in rewrite passes: one directory per pass
// with its logic as a normal Go package (passes/<name>), a tiny wasip1 main
// (passes/<name>/wasm) and the committed module built from it, gzip-compressed
// (passes/<name>/<name>.wasm.gz, rebuilt with `go run ./internal/cmd/passbuild`).
// This package embeds the modules and describes them: name, description,
// whether the default pipeline runs it, options schema, module bytes
// (decompressed on first use), and the native pass the module was built from.
//
// The rewrites are those of the seed (EMLXAxon.rewrite/2): DefaultOrder is
// its default list, Expand its `only:` option.
package passes

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/graphpass/graphpass/host"

	attnweights "github.com/graphpass/graphpass/passes/attn_weights"
	"github.com/graphpass/graphpass/passes/dropout"
	gqacachefix "github.com/graphpass/graphpass/passes/gqa_cache_fix"
	ifpresent "github.com/graphpass/graphpass/passes/if_present"
	layernorm "github.com/graphpass/graphpass/passes/layer_norm"
	nativeattention "github.com/graphpass/graphpass/passes/native_attention"
	nullifyblockcache "github.com/graphpass/graphpass/passes/nullify_block_cache"
	rmsnorm "github.com/graphpass/graphpass/passes/rms_norm"
	rotary "github.com/graphpass/graphpass/passes/rotary_embedding"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/passes/swiglu"
	"github.com/graphpass/graphpass/sdk"
)

//go:generate go run ../internal/cmd/passbuild -root ..

//go:embed */*.wasm.gz
var modules embed.FS

// DefaultOrder lists the passes the default pipeline runs, in order (the
// seed's default rewrites). gqa_cache_fix and quantize are opt-in and must
// be named.
var DefaultOrder = []string{
	"rms_norm", "layer_norm", "rotary_embedding", "sdpa", "dropout", "swiglu",
	"attn_weights", "if_present", "native_attention", "nullify_block_cache",
}

// Order is the canonical order of every built-in pass: the seed's order,
// with the opt-in gqa_cache_fix before native_attention (as the seed
// applies it) and quantize last (it rewrites the MatMuls the fusions keep).
var Order = []string{
	"rms_norm", "layer_norm", "rotary_embedding", "sdpa", "dropout", "swiglu",
	"attn_weights", "if_present", "gqa_cache_fix", "native_attention", "nullify_block_cache",
	"quantize",
}

// Builtin is a pass that ships with graphpass.
type Builtin struct {
	Name          string
	Version       string
	Description   string
	Default       bool   // the default pipeline runs it
	OptionsSchema string // JSON Schema of its options
	Consumes      []string
	Produces      []string
	Wasm          []byte    // the committed ABI v1 module (decompressed)
	SHA256        string    // hex SHA-256 of Wasm
	Pass          *sdk.Pass // the same pass, natively (tests, tools)
}

// Module is what a host loads to run b: its embedded module, pinned by
// its SHA-256 and trusted, so that it runs without the deadline's loop
// checks (see host.Module.Trusted: the built-in passes are part of the
// program and tested like it).
func (b Builtin) Module() host.Module {
	return host.Module{Path: "builtin:" + b.Name, Wasm: b.Wasm, SHA256: b.SHA256, Trusted: true}
}

// entry is a registered pass whose module is decompressed on first use:
// a program that runs two passes does not pay for the other ten.
type entry struct {
	b    Builtin
	gz   []byte // <name>/<name>.wasm.gz, nil when missing
	once sync.Once
}

func (e *entry) get() Builtin {
	e.once.Do(func() {
		if e.gz == nil {
			return
		}
		wasm, err := host.Gunzip(e.gz)
		if err != nil { // the embedded file is corrupt: a broken build
			panic(fmt.Sprintf("passes: embedded module %s/%s.wasm.gz: %v", e.b.Name, e.b.Name, err))
		}
		sum := sha256.Sum256(wasm)
		e.b.Wasm, e.b.SHA256 = wasm, hex.EncodeToString(sum[:])
	})
	return e.b
}

var builtins = map[string]*entry{}

// register adds a built-in pass whose module is <name>/<name>.wasm.gz.
func register(p *sdk.Pass) {
	if _, dup := builtins[p.Name]; dup {
		panic("passes: " + p.Name + " registered twice")
	}
	gz, _ := modules.ReadFile(p.Name + "/" + p.Name + ".wasm.gz")
	info := p.Info()
	builtins[p.Name] = &entry{gz: gz, b: Builtin{Name: p.Name, Version: p.Version, Description: p.Description,
		Default: contains(DefaultOrder, p.Name), OptionsSchema: info.OptionsSchemaJSON,
		Consumes: info.Consumes, Produces: info.Produces, Pass: p}}
}

func init() {
	for _, p := range []*sdk.Pass{
		rmsnorm.Pass, layernorm.Pass, rotary.Pass, sdpa.Pass, dropout.Pass, swiglu.Pass,
		attnweights.Pass, ifpresent.Pass, gqacachefix.Pass, nativeattention.Pass, nullifyblockcache.Pass,
	} {
		register(p)
	}
}

// All returns every built-in pass in canonical Order (then any others by name).
func All() []Builtin {
	names := Names()
	out := make([]Builtin, len(names))
	for i, n := range names {
		out[i] = builtins[n].get()
	}
	return out
}

// Names returns the built-in pass names in canonical Order.
func Names() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := rank(names[i]), rank(names[j])
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	return names
}

func rank(name string) int {
	for i, n := range Order {
		if n == name {
			return i
		}
	}
	return len(Order)
}

// Lookup returns the built-in pass called name.
func Lookup(name string) (Builtin, bool) {
	e, ok := builtins[name]
	if !ok {
		return Builtin{}, false
	}
	return e.get(), true
}

// UnknownError is returned by Expand for a name that is not a built-in pass.
type UnknownError struct {
	Name  string
	Known []string
}

func (e *UnknownError) Error() string {
	return fmt.Sprintf("unknown pass %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// Expand returns the built-in passes to run for the seed's `only:` list:
// DefaultOrder when only is empty; otherwise the named passes (defaults
// and opt-ins alike) plus what they imply — native_attention needs
// if_present, as in the seed — deduplicated, in canonical Order. A name
// that is not a built-in pass is an *UnknownError listing the known ones.
func Expand(only []string) ([]string, error) {
	if len(only) == 0 {
		return append([]string(nil), DefaultOrder...), nil
	}
	want := map[string]bool{}
	for _, n := range only {
		if _, ok := builtins[n]; !ok {
			return nil, &UnknownError{Name: n, Known: Names()}
		}
		want[n] = true
	}
	if want["native_attention"] {
		want["if_present"] = true
	}
	var out []string
	for _, n := range Names() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
