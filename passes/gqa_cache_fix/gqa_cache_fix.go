// Package gqacachefix is the gqa_cache_fix pass (opt-in): when grouped-query
// attention heads are expanded before the cache update,
//
//	present = Concat(past, RepeatInterleave(k_new))   (caches hold num_heads)
//
// it makes the cache hold the key/value heads instead,
//
//	present = Concat(past, k_new);  attention reads RepeatInterleave(present)
//
// and retypes the past_key_values.<i>.* inputs and present.<i>.* outputs to
// kv heads (the seed's :gqa_cache_fix rewrite). Readers that handle GQA
// natively (SDPA) read the compact cache directly. A layer's key and value
// caches change together, in one rewrite. The cache I/O shapes change, so
// only pipelines whose runtime allocates caches from the graph's declared
// types should enable it.
package gqacachefix

import (
	"sort"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

// Pattern matches a cache update of expanded heads.
func Pattern() *sdk.Pattern {
	rep := sdk.Op("RepeatInterleave", sdk.Any("new")).As("repeat").Where(func(v *sdk.View, n *graph.Node) bool {
		t, ok := v.Type(n.Input(0))
		return ok && t.Shape.Rank() == 4 && sdk.NormAxis(n.Int("axis"), 4) == 1
	})
	past := sdk.GraphInput("").As("past").WhereValue(func(v *sdk.View, value string) bool {
		return strings.HasPrefix(value, "past_key_values.")
	})
	return sdk.Op("Concat", past, rep).Where(func(v *sdk.View, n *graph.Node) bool {
		return sdk.NormAxis(n.Int("axis"), 4) == 2
	})
}

var pattern = Pattern()

// gqaNative lists ops that read a cache of kv heads as it is.
var gqaNative = map[string]bool{"SDPA": true}

// Pass makes caches hold kv heads.
var Pass = &sdk.Pass{
	Name:        "gqa_cache_fix",
	Version:     "1.0.0",
	Description: "cache GQA keys/values with kv heads and repeat them after the cache",
	Consumes:    []string{"RepeatInterleave"}, // the expansion it moves
	Produces:    []string{"RepeatInterleave"},
	Rules:       []sdk.Rule{{Name: "gqa_cache_fix", Func: fix}},
}

// ownsCache keeps updates the retyping cannot break: the past input is
// read by this concat alone, and the concat, when it is a graph output, is
// that layer's present output (the one a generation loop feeds back).
func ownsCache(m *sdk.Match) bool {
	v := m.View()
	past := m.Value("past")
	if v.Uses(past) != 1 {
		return false
	}
	out := m.Root().Outputs[0]
	return !v.IsOutput(out) || out == "present."+strings.TrimPrefix(past, "past_key_values.")
}

// layerOf parses past_key_values.<i>.<kind>.
func layerOf(past string) (int, string, bool) {
	rest := strings.TrimPrefix(past, "past_key_values.")
	i, kind, ok := strings.Cut(rest, ".")
	n, err := strconv.Atoi(i)
	return n, kind, ok && err == nil && (kind == "key" || kind == "value")
}

func fix(c *sdk.Context) error {
	v := c.View()
	layers := map[int]map[string]*sdk.Match{}
	for _, n := range v.Nodes() {
		if n.Op != "Concat" {
			continue
		}
		m := c.Match(pattern, n, ownsCache)
		if m == nil {
			continue
		}
		i, kind, ok := layerOf(m.Value("past"))
		if !ok {
			continue
		}
		if layers[i] == nil {
			layers[i] = map[string]*sdk.Match{}
		}
		layers[i][kind] = m
	}
	var order []int
	for i := range layers {
		order = append(order, i)
	}
	sort.Ints(order)
	for _, i := range order {
		k, val := layers[i]["key"], layers[i]["value"]
		if k == nil || val == nil {
			only := k
			if only == nil {
				only = val
			}
			c.Note(only.Root().Name, "layer %d expands heads before only one of its key and value caches; both must change together", i)
			continue
		}
		rw := c.NewRewrite(sdk.Sprintf("layer %d caches hold %s heads", i, k.Type("new").Shape[1])).Scope(k.Root().Scope, "")
		if k.Root().Scope == "" {
			rw.Scope("", k.Root().Name)
		}
		if err := rewrite(v, rw, k, val); err != nil {
			return err
		}
		if err := c.Commit(rw); err != nil {
			return err
		}
	}
	return nil
}

// rewrite changes one layer's key and value caches to kv heads.
func rewrite(v *sdk.View, rw *sdk.Rewrite, caches ...*sdk.Match) error {
	compact := map[string]string{}  // old cache value → new compact one
	expanded := map[string]string{} // old cache value → compact repeated
	for _, m := range caches {
		cat := m.Root()
		compact[cat.Outputs[0]] = rw.Add("Concat", []string{m.Value("past"), m.Value("new")}, map[string]graph.Attr{"axis": graph.Int(2)})
	}
	// Readers that need every query head read the cache repeated; each
	// such reader is replaced once, reading both repeated caches.
	seen := map[*graph.Node]bool{}
	for _, m := range caches {
		for _, r := range v.Consumers(m.Root().Outputs[0]) {
			if gqaNative[r.Op] || seen[r] {
				continue
			}
			seen[r] = true
			if len(r.Subgraphs) > 0 {
				return sdk.Errorf("cache %s is read inside the subgraphs of %s; run if_present first", m.Root().Outputs[0], r.Name)
			}
			c := r.Clone()
			for i, in := range c.Inputs {
				mc := matchOf(caches, in)
				if mc == nil {
					continue
				}
				if expanded[in] == "" {
					expanded[in] = rw.Add("RepeatInterleave", []string{compact[in]}, map[string]graph.Attr{
						"repeats": graph.Int(mc.Node("repeat").Int("repeats")), "axis": graph.Int(1)})
				}
				c.Inputs[i] = expanded[in]
			}
			rw.Remove(r)
			rw.AddNode(c)
		}
	}
	for _, m := range caches {
		cat := m.Root()
		rw.Replace(cat, compact[cat.Outputs[0]])
		past := m.Value("past")
		kv := m.Type("new").Shape[1]
		pt, _ := v.Type(past)
		pt.Shape = pt.Shape.Clone()
		pt.Shape[1] = kv
		rw.SetInputType(past, pt)
		if out := cat.Outputs[0]; v.IsOutput(out) {
			ot, _ := v.Type(out)
			ot.Shape = ot.Shape.Clone()
			ot.Shape[1] = kv
			rw.SetOutputType(out, ot)
		}
	}
	return nil
}

// matchOf returns the match whose cache value is value.
func matchOf(caches []*sdk.Match, value string) *sdk.Match {
	for _, m := range caches {
		if m.Root().Outputs[0] == value {
			return m
		}
	}
	return nil
}
