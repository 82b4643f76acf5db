package nullifyblockcache_test

import (
	"os"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/passes/internal/testmodels"
	nativeattention "github.com/graphpass/graphpass/passes/native_attention"
	nullifyblockcache "github.com/graphpass/graphpass/passes/nullify_block_cache"
	"github.com/graphpass/graphpass/passes/sdpa"
	"github.com/graphpass/graphpass/sdk/passtest"
)

func TestMain(m *testing.M) { os.Exit(testmodels.Main(m)) }

func cacheIO(g *graph.Graph) []string {
	var out []string
	for _, v := range append(append([]graph.ValueInfo{}, g.Inputs...), g.Outputs...) {
		if strings.HasPrefix(v.Name, "past_key_values.") || strings.HasPrefix(v.Name, "present.") || v.Name == graph.UseCacheBranch {
			out = append(out, v.Name)
		}
	}
	return out
}

func TestNullifyBlockCache(t *testing.T) {
	// A graph where the runtime holds layer 0's cache but the present
	// outputs are still declared (a KVCacheAttention graph built by hand):
	// the outputs go, and with them the past inputs they alone read.
	g := testmodels.Fixture(t, "qwen3-tiny", model.BuildOptions{})
	fused := passtest.Run(t, sdpa.Pass, g, "").After
	native := passtest.Run(t, nativeattention.Pass, fused, "").After
	if io := cacheIO(native); len(io) != 0 {
		t.Fatalf("native_attention left %v", io)
	}
	// Nothing left to do on a clean graph.
	if o := passtest.RunBoth(t, nullifyblockcache.Pass, "nullify_block_cache.wasm.gz", native, ""); o.Rewrites() != 0 {
		t.Errorf("%d rewrites on a clean graph", o.Rewrites())
	}

	// Re-add layer 1's cache I/O around its KVCacheAttention: a present
	// output fed only by the (now pointless) concat of an unread past.
	b := native.Clone()
	types, _ := graph.Infer(fused)
	for _, name := range []string{graph.PastKey(1), graph.PastValue(1)} {
		b.Inputs = append(b.Inputs, graph.ValueInfo{Name: name, Type: fused.Input(name).Type})
	}
	b.Inputs = append(b.Inputs, graph.ValueInfo{Name: graph.UseCacheBranch, Type: graph.T(graph.Bool, graph.D(1))})
	var kNew string
	for _, n := range b.Nodes {
		if n.Op == "KVCacheAttention" && n.Int("layer") == 1 {
			kNew = n.Inputs[1]
		}
	}
	b.Nodes = append(b.Nodes, &graph.Node{Name: "stale_concat", Op: "Concat", Attrs: map[string]graph.Attr{"axis": graph.Int(2)},
		Inputs: []string{graph.PastKey(1), kNew}, Outputs: []string{graph.PresentKey(1)}})
	b.Outputs = append(b.Outputs, graph.ValueInfo{Name: graph.PresentKey(1), Type: types[graph.PresentKey(1)]})
	if err := graph.Verify(b); err != nil {
		t.Fatal(err)
	}
	o := passtest.RunBoth(t, nullifyblockcache.Pass, "nullify_block_cache.wasm.gz", b, "")
	if io := cacheIO(o.After); len(io) != 0 {
		t.Errorf("cache I/O left: %v", io)
	}
	if o.After.Node("stale_concat") != nil {
		t.Errorf("stale cache concat survived")
	}
	if o.Rewrites() != 4 {
		t.Errorf("%d rewrites, want 4 (the output, two past inputs, use_cache_branch)", o.Rewrites())
	}
	passtest.EquivalentDecoding(t, native, o.After, 4, 2, 0)
}
