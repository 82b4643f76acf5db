package graph

import "testing"

func TestLookupInitializerInnermostFirst(t *testing.T) {
	outer := &Graph{Initializers: []*Initializer{{Name: "w"}, {Name: "b"}}}
	inner := &Graph{Initializers: []*Initializer{{Name: "w"}}}
	scopes := []*Graph{outer, inner}
	if got := LookupInitializer(scopes, "w"); got != inner.Initializers[0] {
		t.Errorf("w: got %p, want the inner one %p", got, inner.Initializers[0])
	}
	if got := LookupInitializer(scopes, "b"); got != outer.Initializers[1] {
		t.Errorf("b: got %p, want the outer one", got)
	}
	if got := LookupInitializer(scopes, "missing"); got != nil {
		t.Errorf("missing: got %v, want nil", got)
	}
}
