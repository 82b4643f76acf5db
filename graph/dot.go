package graph

import (
	"fmt"
	"io"
	"strings"
)

// WriteDOT writes g in Graphviz DOT form: one box per node labelled with its
// op and attributes, one ellipse per graph input and output, edges labelled
// with value types. Initializers are folded into their consumers' labels to
// keep weight-heavy graphs readable. If branches become clusters.
func WriteDOT(w io.Writer, g *Graph) error {
	types, err := Infer(g)
	if err != nil {
		types = map[string]TensorType{} // still draw an invalid graph, untyped
	}
	b := &strings.Builder{}
	fmt.Fprintf(b, "digraph %q {\n  rankdir=TB;\n  node [fontname=\"Helvetica\",fontsize=10];\n  edge [fontname=\"Helvetica\",fontsize=8];\n", g.Name)
	for _, v := range g.Inputs {
		fmt.Fprintf(b, "  %q [shape=ellipse,style=filled,fillcolor=\"#e8f0fe\",label=%q];\n", "in:"+v.Name, v.Name+"\n"+v.Type.String())
	}
	for _, v := range g.Outputs {
		fmt.Fprintf(b, "  %q [shape=ellipse,style=filled,fillcolor=\"#e6f4ea\",label=%q];\n", "out:"+v.Name, v.Name+"\n"+v.Type.String())
	}
	producer := map[string]string{}
	for _, v := range g.Inputs {
		producer[v.Name] = "in:" + v.Name
	}
	writeDOTNodes(b, g, types, producer, "  ")
	for _, v := range g.Outputs {
		if p, ok := producer[v.Name]; ok {
			fmt.Fprintf(b, "  %q -> %q;\n", p, "out:"+v.Name)
		}
	}
	b.WriteString("}\n")
	_, err = io.WriteString(w, b.String())
	return err
}

func writeDOTNodes(b *strings.Builder, g *Graph, types map[string]TensorType, producer map[string]string, indent string) {
	inits := map[string]bool{}
	for _, in := range g.Initializers {
		inits[in.Name] = true
	}
	for _, n := range g.Nodes {
		label := n.Op
		if s, ok := Lookup(n.Op); ok && s.Fused {
			label = "★ " + label
		}
		for _, k := range n.SortedAttrNames() {
			v := n.Attrs[k].String()
			if len(v) > 40 {
				v = v[:37] + "..."
			}
			label += fmt.Sprintf("\n%s=%s", k, v)
		}
		for _, in := range n.Inputs {
			if inits[in] {
				label += "\n⊙ " + in
			}
		}
		fill := "#ffffff"
		if s, ok := Lookup(n.Op); ok && s.Fused {
			fill = "#fff4d6"
		}
		fmt.Fprintf(b, "%s%q [shape=box,style=filled,fillcolor=%q,label=%q,tooltip=%q];\n", indent, n.Name, fill, label, n.Scope)
		for _, in := range n.Inputs {
			if p, ok := producer[in]; ok {
				fmt.Fprintf(b, "%s%q -> %q [label=%q];\n", indent, p, n.Name, types[in].String())
			}
		}
		for _, k := range sortedKeys(n.Subgraphs) {
			fmt.Fprintf(b, "%ssubgraph %q {\n%s  label=%q; style=dashed;\n", indent, "cluster_"+n.Name+"_"+k, indent, n.Name+"."+k)
			writeDOTNodes(b, n.Subgraphs[k], types, producer, indent+"  ")
			fmt.Fprintf(b, "%s}\n", indent)
		}
		for _, o := range n.Outputs {
			producer[o] = n.Name
		}
	}
}
