package main

import (
	"strings"
	"testing"
)

func TestPassesCommand(t *testing.T) {
	r := cli(t, "", nil, "passes").mustSucceed(t)
	for _, want := range []string{"NAME", "rms_norm", "default", "gqa_cache_fix", "opt-in", "native_attention", "nullify_block_cache"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("pipeline passes lacks %q:\n%s", want, r.stdout)
		}
	}
	// The default passes come first in the seed's order.
	if i, j := strings.Index(r.stdout, "rms_norm"), strings.Index(r.stdout, "sdpa"); i < 0 || j < i {
		t.Errorf("rms_norm should be listed before sdpa:\n%s", r.stdout)
	}

	var list []passJSON
	decodeJSON(t, cli(t, "", nil, "passes", "--json").mustSucceed(t).stdout, &list)
	defaults := 0
	for _, p := range list {
		if p.Default {
			defaults++
		}
		if p.Name == "" || p.Version == "" || p.Description == "" || len(p.SHA256) != 64 || p.ModuleBytes == 0 || len(p.OptionsSchema) == 0 {
			t.Errorf("incomplete entry %+v", p)
		}
	}
	if len(list) < 11 || defaults != 10 {
		t.Errorf("%d passes, %d default; want ≥ 11 and 10", len(list), defaults)
	}

	r = cli(t, "", nil, "passes", "sdpa").mustSucceed(t)
	for _, want := range []string{"sdpa 1.0.0 (default)", "emits:    SDPA", "sha256 ", "options:  none"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("pipeline passes sdpa lacks %q:\n%s", want, r.stdout)
		}
	}
	cli(t, "", nil, "passes", "fuse_everything").oneLineError(t, 2, `unknown pass "fuse_everything"`, "known: rms_norm")
}
