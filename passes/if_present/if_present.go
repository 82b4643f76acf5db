// Package ifpresent is the if_present pass: a merged decoder wraps each
// cache update in If(use_cache_branch); when serving, the cache is always
// present, so each such If is replaced by its then_branch, inlined at the
// top level, and the use_cache_branch input is removed once nothing reads
// it (the seed's :if_present rewrite). Ifs on other conditions are left
// alone.
package ifpresent

import (
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pass inlines then_branch of If(use_cache_branch).
var Pass = &sdk.Pass{
	Name:        "if_present",
	Version:     "1.0.0",
	Description: "replace If(use_cache_branch) by its then_branch and drop the use_cache_branch input",
	Consumes:    []string{"If"},
	Rules:       []sdk.Rule{{Name: "if_present", Func: inline}},
}

// IsCacheBranch reports whether cond is the use_cache_branch input, read
// directly or through value-preserving ops.
func IsCacheBranch(v *sdk.View, cond string) bool {
	return v.IsInput(graph.UseCacheBranch) && v.TracesTo(cond, graph.UseCacheBranch, "Cast", "Identity", "Reshape", "Squeeze", "Unsqueeze")
}

func inline(c *sdk.Context) error {
	v := c.View()
	var removed []*graph.Node
	for _, n := range v.Nodes() {
		if n.Op != "If" || !IsCacheBranch(v, n.Input(0)) {
			continue
		}
		then := n.Subgraphs["then_branch"]
		if then == nil || len(then.Outputs) != len(n.Outputs) {
			return sdk.Errorf("node %q: If without a then_branch matching its %d outputs", n.Name, len(n.Outputs))
		}
		rw := c.NewRewrite(sdk.Sprintf("If %s: the cache is present, keep then_branch", n.Name)).Scope(n.Scope, n.Name)
		rw.Remove(n)
		// The branch's names are unique in the whole graph and die with the
		// If, so its nodes and initializers keep them.
		for _, in := range then.Initializers {
			rw.AddInitializer(in)
		}
		for _, bn := range then.Nodes {
			rw.AddNode(bn)
		}
		for i, o := range then.Outputs {
			rw.Remap(n.Outputs[i], o.Name)
		}
		if err := c.Commit(rw); err != nil {
			return err
		}
		removed = append(removed, n)
	}
	if len(removed) > 0 && !v.ReadBy(graph.UseCacheBranch, v.Dead(removed, nil), nil) {
		rw := c.NewRewrite(graph.UseCacheBranch + " is no longer read")
		rw.RemoveInput(graph.UseCacheBranch)
		return c.Commit(rw)
	}
	return nil
}
