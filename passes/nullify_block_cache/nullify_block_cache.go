// Package nullifyblockcache is the nullify_block_cache pass: once the
// runtime holds the KV cache (native_attention), the graph's own cache
// plumbing is dead weight. It removes present.<i>.* outputs of layers whose
// KVCacheAttention holds the cache, and the cache inputs nothing reads any
// more (past_key_values.*, use_cache_branch), so the subgraphs that only
// fed them die and runtimes see a clean graph (the seed's
// :nullify_block_cache rewrite).
package nullifyblockcache

import (
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pass removes leftover cache I/O.
var Pass = &sdk.Pass{
	Name:        "nullify_block_cache",
	Version:     "1.0.0",
	Description: "remove cache inputs and outputs left unused once the runtime holds the KV cache",
	// No trigger ops: unread cache inputs go even without KVCacheAttention.
	Rules: []sdk.Rule{{Name: "nullify_block_cache", Func: nullify}},
}

// isCacheInput reports whether name is cache plumbing.
func isCacheInput(name string) bool {
	return strings.HasPrefix(name, "past_key_values.") || name == graph.UseCacheBranch
}

// layerOfPresent parses present.<i>.key / present.<i>.value.
func layerOfPresent(name string) (int64, bool) {
	s, ok := strings.CutPrefix(name, "present.")
	if !ok {
		return 0, false
	}
	s, _, ok = strings.Cut(s, ".")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

func nullify(c *sdk.Context) error {
	v := c.View()
	g := v.Graph()
	held := map[int64]bool{}
	for _, n := range g.Nodes {
		if n.Op == "KVCacheAttention" {
			held[n.Int("layer")] = true
		}
	}
	var outs []string
	for _, o := range g.Outputs {
		if i, ok := layerOfPresent(o.Name); ok && held[i] {
			outs = append(outs, o.Name)
		}
	}
	dead := v.Dead(nil, outs)
	if len(outs) > 0 {
		rw := c.NewRewrite(sdk.Sprintf("the runtime holds the cache: drop %s", strings.Join(outs, ", ")))
		for _, o := range outs {
			rw.RemoveOutput(o)
		}
		for n := range dead {
			rw.Kill(n)
		}
		if err := c.Commit(rw); err != nil {
			return err
		}
	}
	for _, in := range g.Inputs {
		if !isCacheInput(in.Name) || v.ReadBy(in.Name, dead, outs) {
			continue
		}
		rw := c.NewRewrite(sdk.Sprintf("cache input %s is no longer read", in.Name))
		rw.RemoveInput(in.Name)
		if err := c.Commit(rw); err != nil {
			return err
		}
	}
	return nil
}
