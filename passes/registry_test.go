package passes_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/passes"
	"github.com/graphpass/graphpass/sdk/passtest"
)

// moduleBudget bounds the size of a built-in pass module.
const moduleBudget = 3_600_000

// Every built-in has a committed module that loads in the host and
// declares exactly what the native pass declares.
func TestModulesMatchNativePasses(t *testing.T) {
	h, err := passtest.Host()
	if err != nil {
		t.Fatal(err)
	}
	all := passes.All()
	if len(all) < 11 {
		t.Fatalf("%d built-in passes, want at least 11", len(all))
	}
	mods := make([]host.Module, len(all))
	for i, b := range all {
		if len(b.Wasm) == 0 {
			t.Fatalf("%s: no committed module %s/%s.wasm.gz; run go run ./internal/cmd/passbuild", b.Name, b.Name, b.Name)
		}
		mods[i] = b.Module()
		if !mods[i].Trusted || mods[i].SHA256 == "" {
			t.Errorf("%s: module %+v is not pinned and trusted", b.Name, mods[i].Path)
		}
	}
	loaded, err := h.LoadAll(context.Background(), mods)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range all {
		info := loaded[i].Info()
		native := b.Pass.PassInfo()
		if !reflect.DeepEqual(info, native) {
			t.Errorf("%s: module info %+v, native %+v (stale module? run go run ./internal/cmd/passbuild)", b.Name, info, native)
		}
		if b.Name != info.Name || b.Description == "" || b.Version == "" || !strings.HasPrefix(b.OptionsSchema, "{") {
			t.Errorf("%s: incomplete entry %+v", b.Name, b)
		}
		// A Go pass module is the 1.8 MB runtime plus the SDK, codec and
		// graph (3.2-3.3 MB; quantize, whose rules link fmt, 3.5 MB). One
		// over budget has probably started linking fmt's code or the op
		// catalog's inference (see sdk's package comment).
		if size := len(b.Wasm); size > moduleBudget {
			t.Errorf("%s: module is %d bytes, over the %d-byte budget", b.Name, size, moduleBudget)
		}
	}
}

func TestDefaultOrder(t *testing.T) {
	for _, n := range passes.DefaultOrder {
		b, ok := passes.Lookup(n)
		if !ok || !b.Default {
			t.Errorf("default pass %s: registered %v, default %v", n, ok, b.Default)
		}
	}
	for _, n := range []string{"gqa_cache_fix", "quantize"} {
		if b, ok := passes.Lookup(n); ok && b.Default {
			t.Errorf("%s must be opt-in", n)
		}
	}
	var want []string
	for _, n := range passes.Order {
		if _, ok := passes.Lookup(n); ok {
			want = append(want, n)
		}
	}
	if names := passes.Names(); !reflect.DeepEqual(names, want) {
		t.Errorf("Names() = %v, want canonical order %v", names, want)
	}
}

func TestExpand(t *testing.T) {
	tests := []struct {
		only []string
		want []string
		err  string
	}{
		{nil, passes.DefaultOrder, ""},
		{[]string{"swiglu", "rms_norm"}, []string{"rms_norm", "swiglu"}, ""},
		{[]string{"native_attention"}, []string{"if_present", "native_attention"}, ""},
		{[]string{"native_attention", "if_present", "sdpa", "sdpa"}, []string{"sdpa", "if_present", "native_attention"}, ""},
		{[]string{"gqa_cache_fix", "native_attention"}, []string{"if_present", "gqa_cache_fix", "native_attention"}, ""},
		{[]string{"rms_norm", "fuse_everything"}, nil, `unknown pass "fuse_everything" (known: rms_norm, layer_norm,`},
	}
	for _, tc := range tests {
		got, err := passes.Expand(tc.only)
		if tc.err != "" {
			var ue *passes.UnknownError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ue) {
				t.Errorf("Expand(%v): err %v, want %q", tc.only, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Expand(%v) = %v, %v; want %v", tc.only, got, err, tc.want)
		}
	}
	got, _ := passes.Expand(nil)
	got[0] = "changed"
	if passes.DefaultOrder[0] != "rms_norm" {
		t.Errorf("Expand returned DefaultOrder itself")
	}
}
