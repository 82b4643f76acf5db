// Package conformance checks that a pass module, in any language, keeps
// ABI v1 (../SPEC.md) the way the graphpass host relies on: it loads (only
// allowed imports, every export with the right type, a valid PassInfo), it
// handles an empty graph and a set of small valid graphs without failing,
// its patches apply and verify, it is deterministic, and it refuses
// options it does not know.
//
// Run it from a Go test:
//
//	results, err := conformance.Check(ctx, h, host.Module{Path: "my_pass.wasm"})
//
// or see conformance_test.go, which runs it on the C pass in c/.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/graphpass/graphpass/abi"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

// Result is the outcome of one check.
type Result struct {
	Check string
	Err   error // nil when the check passed
	// Advisory marks a SHOULD of the spec rather than a MUST: a failure is
	// worth fixing but does not make the module unusable.
	Advisory bool
}

func (r Result) String() string {
	switch {
	case r.Err == nil:
		return "ok    " + r.Check
	case r.Advisory:
		return "warn  " + r.Check + ": " + r.Err.Error()
	}
	return "FAIL  " + r.Check + ": " + r.Err.Error()
}

// Failed reports whether any non-advisory check failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Err != nil && !r.Advisory {
			return true
		}
	}
	return false
}

// Check runs every check on module m with host h. It returns an error only
// when the module does not load; later checks report their failures in the
// results.
func Check(ctx context.Context, h *host.Host, m host.Module) ([]Result, error) {
	p, err := h.Load(ctx, m)
	if err != nil {
		return []Result{{Check: "load", Err: err}}, err
	}
	rs := []Result{{Check: "load"}}
	rs = append(rs, checkInfo(p.Info())...)
	for _, sg := range Graphs() {
		rs = append(rs, checkRun(ctx, p, sg))
	}
	rs = append(rs, checkUnknownOption(ctx, p))
	return rs, nil
}

func checkInfo(info *abi.PassInfo) []Result {
	var rs []Result
	add := func(check string, advisory bool, err error) {
		rs = append(rs, Result{Check: check, Err: err, Advisory: advisory})
	}
	var err error
	if info.Version == "" {
		err = errors.New("empty version")
	}
	add("info: version", true, err)
	err = nil
	if s := info.OptionsSchemaJSON; s != "" {
		var v map[string]any
		if jerr := json.Unmarshal([]byte(s), &v); jerr != nil {
			err = fmt.Errorf("options_schema_json is not a JSON object: %v", jerr)
		}
	}
	add("info: options schema", false, err)
	err = nil
	for _, op := range append(append([]string(nil), info.Consumes...), info.Produces...) {
		if _, ok := graph.Lookup(op); !ok {
			err = errors.Join(err, fmt.Errorf("op %q is not in the catalog", op))
		}
	}
	add("info: consumes and produces known ops", true, err)
	return rs
}

// checkRun runs the pass on g twice: it must succeed, return a patch that
// applies (the host checks), and the same patch and notes both times.
func checkRun(ctx context.Context, p *host.Pass, sg Sample) Result {
	r := Result{Check: "run: " + sg.Name}
	first, err := p.Exec(ctx, sg.Graph, "")
	if err != nil {
		r.Err = err
		return r
	}
	second, err := p.Exec(ctx, sg.Graph, "")
	if err != nil {
		r.Err = fmt.Errorf("second run: %w", err)
		return r
	}
	a := abi.EncodeRunResponse(&abi.RunResponse{Patch: first.Patch, Notes: first.Notes})
	b := abi.EncodeRunResponse(&abi.RunResponse{Patch: second.Patch, Notes: second.Notes})
	if !bytes.Equal(a, b) {
		r.Err = errors.New("not deterministic: two runs returned different patches or notes")
	}
	return r
}

func checkUnknownOption(ctx context.Context, p *host.Pass) Result {
	r := Result{Check: "run: rejects unknown options", Advisory: true}
	_, _, err := p.Run(ctx, Graphs()[1].Graph, `{"no_such_option_xyzzy": 1}`)
	var pe *abi.PassError
	switch {
	case err == nil:
		r.Err = errors.New(`accepted {"no_such_option_xyzzy": 1}`)
	case !errors.As(err, &pe):
		r.Err = fmt.Errorf("failed other than with a PassError: %w", err)
		r.Advisory = false
	case pe.Code != abi.CodeInvalidOptions:
		r.Err = fmt.Errorf("error code %q, want %q", pe.Code, abi.CodeInvalidOptions)
	}
	return r
}
