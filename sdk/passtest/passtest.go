// Package passtest runs rewrite passes in tests: natively, calling the
// pass's rules in-process on the exact request a module would receive, and
// (RunModule, RunBoth) inside wazero through package host on the committed
// module (.wasm or .wasm.gz), asserting that both give byte-identical
// responses. It also has a Builder for small test graphs.
package passtest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
	"github.com/graphpass/graphpass/sdk"
)

// Outcome is a pass run and its effect.
type Outcome struct {
	Response *abi.RunResponse // as decoded from the wire
	Before   *graph.Graph     // the graph the pass ran on
	After    *graph.Graph     // Before with the patch applied (nil on a pass error)
}

// Rewrites returns the number of rewrites in the patch.
func (o *Outcome) Rewrites() int {
	if o.Response.Patch == nil {
		return 0
	}
	return len(o.Response.Patch.Rewrites)
}

// NoteMessages returns the notes as "node: message" lines.
func (o *Outcome) NoteMessages() []string {
	var out []string
	for _, n := range o.Response.Notes {
		out = append(out, n.Node+": "+n.Message)
	}
	return out
}

// HasNote reports whether some note's message contains substr.
func (o *Outcome) HasNote(substr string) bool {
	for _, n := range o.Response.Notes {
		if strings.Contains(n.Message, substr) {
			return true
		}
	}
	return false
}

// Expect fails the test unless the patch has exactly rewrites rewrites
// (fatal); then, if note is not empty, reports an error unless some note's
// message contains it, and if note is empty, reports an error if there are
// any notes at all.
func (o *Outcome) Expect(t TB, rewrites int, note string) {
	t.Helper()
	if o.Rewrites() != rewrites {
		t.Fatalf("%d rewrites, want %d; notes %v", o.Rewrites(), rewrites, o.NoteMessages())
	}
	if note != "" && !o.HasNote(note) {
		t.Errorf("notes %v, want one containing %q", o.NoteMessages(), note)
	}
	if note == "" && len(o.Response.Notes) > 0 {
		t.Errorf("unexpected notes %v", o.NoteMessages())
	}
}

// Request builds the ABI v1 request a host sends for g: the graph without
// weight file references or the bytes of initializers over
// graph.InlineLimit, and the inferred type of every value.
func Request(g *graph.Graph, optionsJSON string) (*abi.RunRequest, error) {
	types, err := graph.Infer(g)
	if err != nil {
		return nil, err
	}
	if optionsJSON == "" {
		optionsJSON = "{}"
	}
	return &abi.RunRequest{ABIVersion: abi.Version1, Graph: PassView(g), ValueTypes: types, OptionsJSON: optionsJSON}, nil
}

// PassView returns a copy of g as a pass sees it (what package host sends):
// no WeightRef, and no data for initializers larger than graph.InlineLimit.
func PassView(g *graph.Graph) *graph.Graph {
	c := g.Clone()
	for _, in := range c.Initializers {
		in.Ref = nil
		if len(in.Data) > graph.InlineLimit {
			in.Data = nil
		}
	}
	return c
}

// Native runs p in-process on the wire form of the request for g and
// returns the response after an encode/decode round trip, so it sees and
// returns exactly what a module would.
func Native(p *sdk.Pass, g *graph.Graph, optionsJSON string) (*abi.RunResponse, []byte, error) {
	req, err := Request(g, optionsJSON)
	if err != nil {
		return nil, nil, err
	}
	wire, err := abi.DecodeRunRequest(abi.EncodeRunRequest(req))
	if err != nil {
		return nil, nil, err
	}
	raw := abi.EncodeRunResponse(p.Serve(wire))
	resp, err := abi.DecodeRunResponse(raw)
	return resp, raw, err
}

// Run runs p natively on g, fails the test on a pass error or a patch
// that does not apply and verify, and returns the outcome.
func Run(t TB, p *sdk.Pass, g *graph.Graph, optionsJSON string) *Outcome {
	t.Helper()
	resp, _, err := Native(p, g, optionsJSON)
	if err != nil {
		t.Fatalf("pass %s: %v", p.Name, err)
	}
	return finish(t, p.Name, g, resp)
}

func finish(t TB, name string, g *graph.Graph, resp *abi.RunResponse) *Outcome {
	t.Helper()
	o := &Outcome{Response: resp, Before: g}
	if resp.Error != nil {
		t.Fatalf("pass %s failed: %v", name, resp.Error)
	}
	patch := resp.Patch
	if patch == nil {
		patch = &graph.Patch{}
	}
	after, err := graph.Apply(g, patch)
	if err != nil {
		t.Fatalf("pass %s: patch does not apply: %v", name, err)
	}
	o.After = after
	return o
}

// RunError runs p natively and returns the pass error it must report
// (failing the test if it succeeds).
func RunError(t TB, p *sdk.Pass, g *graph.Graph, optionsJSON string) *abi.PassError {
	t.Helper()
	resp, _, err := Native(p, g, optionsJSON)
	if err != nil {
		t.Fatalf("pass %s: %v", p.Name, err)
	}
	if resp.Error == nil {
		t.Fatalf("pass %s succeeded, want an error", p.Name)
	}
	return resp.Error
}

// RunBoth runs p natively and its compiled module (the .wasm or .wasm.gz
// file at wasmPath; see Module) inside wazero through package host, on g with the same
// options; it fails the test unless both give identical patches (byte for
// byte in ABI encoding) and notes, then returns the outcome with the patch
// applied and verified.
func RunBoth(t TB, p *sdk.Pass, wasmPath string, g *graph.Graph, optionsJSON string) *Outcome {
	t.Helper()
	mod, err := Module(wasmPath)
	if err != nil {
		t.Fatalf("pass %s: loading %s: %v", p.Name, wasmPath, err)
	}
	return runBoth(t, p, wasmPath, mod, g, optionsJSON)
}

// RunBothWasm is RunBoth with the module's bytes (e.g. an embedded built-in).
func RunBothWasm(t TB, p *sdk.Pass, wasm []byte, g *graph.Graph, optionsJSON string) *Outcome {
	t.Helper()
	mod, err := ModuleBytes("builtin:"+p.Name, wasm)
	if err != nil {
		t.Fatalf("pass %s: loading its module: %v", p.Name, err)
	}
	return runBoth(t, p, "builtin:"+p.Name, mod, g, optionsJSON)
}

func runBoth(t TB, p *sdk.Pass, label string, mod *host.Pass, g *graph.Graph, optionsJSON string) *Outcome {
	t.Helper()
	resp, _, err := Native(p, g, optionsJSON)
	if err != nil {
		t.Fatalf("pass %s: %v", p.Name, err)
	}
	got, err := runLoaded(mod, g, optionsJSON)
	if err != nil {
		t.Fatalf("pass %s in wazero (%s): %v", p.Name, label, err)
	}
	if err := SameResponse(resp, got); err != nil {
		t.Fatalf("pass %s: module %s disagrees with the native pass (is the module stale? rebuild with go run ./internal/cmd/passbuild): %v\nnative: %s\nmodule: %s",
			p.Name, label, err, Describe(resp), Describe(got))
	}
	return finish(t, p.Name, g, resp)
}

// SameResponse reports how two responses differ: error, patch bytes, notes.
func SameResponse(a, b *abi.RunResponse) error {
	switch {
	case (a.Error == nil) != (b.Error == nil):
		return fmt.Errorf("error %v vs %v", a.Error, b.Error)
	case a.Error != nil && *a.Error != *b.Error:
		return fmt.Errorf("error %v vs %v", a.Error, b.Error)
	}
	pa, pb := a.Patch, b.Patch
	if pa == nil {
		pa = &graph.Patch{}
	}
	if pb == nil {
		pb = &graph.Patch{}
	}
	if !bytes.Equal(abi.EncodePatch(pa), abi.EncodePatch(pb)) {
		return fmt.Errorf("patches differ (%d vs %d rewrites)", len(pa.Rewrites), len(pb.Rewrites))
	}
	if len(a.Notes) != len(b.Notes) {
		return fmt.Errorf("%d vs %d notes", len(a.Notes), len(b.Notes))
	}
	for i := range a.Notes {
		if a.Notes[i] != b.Notes[i] {
			return fmt.Errorf("note %d: %v vs %v", i, a.Notes[i], b.Notes[i])
		}
	}
	return nil
}

// Describe renders a response compactly for test failures.
func Describe(r *abi.RunResponse) string {
	if r == nil {
		return "<nil>"
	}
	var b strings.Builder
	if r.Error != nil {
		b.WriteString("error " + r.Error.Error() + "; ")
	}
	if r.Patch != nil {
		for _, rw := range r.Patch.Rewrites {
			b.WriteString("[" + rw.Reason + ": -" + strings.Join(rw.RemoveNodes, ",") + " +")
			for _, n := range rw.AddNodes {
				b.WriteString(n.Op + "(" + strings.Join(n.Inputs, ",") + ")→" + strings.Join(n.Outputs, ",") + " ")
			}
			for _, m := range rw.Remaps {
				b.WriteString(m.From + "→" + m.To + " ")
			}
			b.WriteString("] ")
		}
	}
	for _, n := range r.Notes {
		b.WriteString("note " + n.Node + ": " + n.Message + "; ")
	}
	return b.String()
}
