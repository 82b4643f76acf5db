package sdk

import (
	"sort"

	"github.com/graphpass/graphpass/graph"
)

// index answers what graph.Index answers (producers, consumers in graph
// order, initializers, graph inputs and outputs) with a handful of
// allocations for the whole graph rather than a few per node: inside a
// WebAssembly module every allocation and map insert is expensive, and
// every pass indexes the graph it is given.
type index struct {
	ids   map[string]int32 // value name → slot
	slots []valueSlot
	users []*graph.Node // consumers, grouped by value
}

type valueSlot struct {
	producer      *graph.Node
	init          *graph.Initializer
	input, output bool
	first, count  int32 // users[first : first+count]
}

func newIndex(g *graph.Graph) *index {
	ix := &index{ids: make(map[string]int32, len(g.Nodes)+len(g.Nodes)/4+len(g.Inputs)+len(g.Initializers)+8)}
	ix.slots = make([]valueSlot, 0, len(g.Nodes)+len(g.Inputs)+len(g.Initializers)+8)
	for _, v := range g.Inputs {
		ix.slots[ix.id(v.Name)].input = true
	}
	for _, in := range g.Initializers {
		ix.slots[ix.id(in.Name)].init = in
	}
	for _, v := range g.Outputs {
		ix.slots[ix.id(v.Name)].output = true
	}
	// Uses, in graph order: (slot, node) pairs, then grouped by slot.
	type use struct {
		slot int32
		node *graph.Node
	}
	uses := make([]use, 0, 2*len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			ix.slots[ix.id(o)].producer = n
		}
		start := len(uses)
		add := func(v string) {
			if v == "" {
				return
			}
			s := ix.id(v)
			for _, u := range uses[start:] { // a node reads a value once
				if u.slot == s {
					return
				}
			}
			uses = append(uses, use{s, n})
			ix.slots[s].count++
		}
		for _, in := range n.Inputs {
			add(in)
		}
		if len(n.Subgraphs) > 0 { // values a subgraph reads are read by its node
			keys := make([]string, 0, len(n.Subgraphs))
			for k := range n.Subgraphs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				for _, v := range graph.FreeValues(n.Subgraphs[k]) {
					add(v)
				}
			}
		}
	}
	next := int32(0)
	for i := range ix.slots {
		ix.slots[i].first = next
		next += ix.slots[i].count
		ix.slots[i].count = 0
	}
	ix.users = make([]*graph.Node, len(uses))
	for _, u := range uses {
		s := &ix.slots[u.slot]
		ix.users[s.first+s.count] = u.node
		s.count++
	}
	return ix
}

// id returns the slot of value, adding one for a new name.
func (ix *index) id(value string) int32 {
	if s, ok := ix.ids[value]; ok {
		return s
	}
	s := int32(len(ix.slots))
	ix.slots = append(ix.slots, valueSlot{})
	ix.ids[value] = s
	return s
}

func (ix *index) slot(value string) *valueSlot {
	if s, ok := ix.ids[value]; ok {
		return &ix.slots[s]
	}
	return nil
}

func (ix *index) Producer(v string) *graph.Node {
	if s := ix.slot(v); s != nil {
		return s.producer
	}
	return nil
}

func (ix *index) Consumers(v string) []*graph.Node {
	if s := ix.slot(v); s != nil && s.count > 0 {
		return ix.users[s.first : s.first+s.count : s.first+s.count]
	}
	return nil
}

func (ix *index) Initializer(v string) *graph.Initializer {
	if s := ix.slot(v); s != nil {
		return s.init
	}
	return nil
}

func (ix *index) IsInput(v string) bool {
	s := ix.slot(v)
	return s != nil && s.input
}

func (ix *index) IsOutput(v string) bool {
	s := ix.slot(v)
	return s != nil && s.output
}

func (ix *index) Uses(v string) int {
	s := ix.slot(v)
	if s == nil {
		return 0
	}
	n := int(s.count)
	if s.output {
		n++
	}
	return n
}
