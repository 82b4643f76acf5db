package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/host"
)

func TestRunnerAppliesStepsInOrder(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	noop := load(t, h, "noop.wasm")
	g := testGraph()
	before := snapshot(g)
	out, reports, err := host.Run(context.Background(), g, []host.Step{{Pass: noop}, {Pass: tp}, {Pass: tp}})
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, g, before)
	if len(reports) != 3 {
		t.Fatalf("%d reports", len(reports))
	}
	r := reports[1]
	if r.Pass != "testpass" || r.Version != "0.1.0" || r.File != testdata("testpass.wasm.gz") || r.Matches != 2 || len(r.Reasons) != 2 {
		t.Errorf("report %+v", r)
	}
	if !strings.Contains(r.Reasons[0], "is the identity at inference") {
		t.Errorf("reasons %v", r.Reasons)
	}
	if r.NodesBefore != g.NumNodes() || r.NodesAfter != g.NumNodes()-2 {
		t.Errorf("nodes %d → %d, graph has %d", r.NodesBefore, r.NodesAfter, g.NumNodes())
	}
	if reports[0].Matches != 0 || reports[2].Matches != 0 {
		t.Errorf("noop or second dropout matched: %+v %+v", reports[0], reports[2])
	}
	if r.Duration.Total() <= 0 || len(r.Log) == 0 || len(r.Notes) != 1 {
		t.Errorf("report %+v", r)
	}
	if c := out.OpCounts()["Dropout"]; c != 0 {
		t.Errorf("%d Dropout left", c)
	}
	if err := graph.Verify(out); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(reports); err != nil {
		t.Errorf("reports do not marshal: %v", err)
	}
}

func TestRunnerOnErrorFail(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	out, reports, err := host.Run(context.Background(), g, []host.Step{
		{Pass: tp, Options: `{"mode":"cycle"}`},
		{Pass: tp},
	})
	if out != nil || !errors.Is(err, host.ErrPatchRejected) {
		t.Fatalf("out=%v err=%v", out != nil, err)
	}
	if len(reports) != 1 || reports[0].Err == nil || reports[0].Error == "" || reports[0].Skipped {
		t.Fatalf("reports %+v", reports)
	}
	assertUnchanged(t, g, before)
}

func TestRunnerOnErrorSkip(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	out, reports, err := host.Run(context.Background(), g, []host.Step{
		{Pass: tp, Options: `{"mode":"panic"}`, OnError: host.Skip},
		{Pass: tp, Options: `{"mode":"dtype"}`, OnError: host.Skip},
		{Pass: tp},
	})
	if err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, g, before)
	if len(reports) != 3 || !reports[0].Skipped || !reports[1].Skipped || reports[2].Skipped {
		t.Fatalf("reports %+v", reports)
	}
	if !errors.Is(reports[0].Err, host.ErrTrap) || !errors.Is(reports[1].Err, host.ErrPatchRejected) {
		t.Errorf("errors %v / %v", reports[0].Err, reports[1].Err)
	}
	if reports[0].NodesAfter != reports[0].NodesBefore || reports[0].Matches != 0 {
		t.Errorf("skipped step changed counts: %+v", reports[0])
	}
	if reports[2].Matches != 2 || out.OpCounts()["Dropout"] != 0 {
		t.Errorf("the pass after the skipped ones did not run: %+v", reports[2])
	}
}

func TestRunnerRejectsInvalidGraph(t *testing.T) {
	g := testGraph()
	g.Outputs[0].Name = "undefined"
	_, _, err := host.Run(context.Background(), g, nil)
	if !errors.Is(err, host.ErrInvalidGraph) {
		t.Fatal(err)
	}
}

func TestRunnerWithNoStepsReturnsACopy(t *testing.T) {
	g := testGraph()
	out, reports, err := host.Run(context.Background(), g, nil)
	if err != nil || len(reports) != 0 {
		t.Fatal(err)
	}
	if out == g {
		t.Error("returned the caller's graph itself")
	}
}

type recordingValidator struct {
	mu      sync.Mutex
	seen    []string
	befores []*graph.Graph
	fail    string // reason substring to reject
}

func (v *recordingValidator) ValidateRewrite(ctx context.Context, before *graph.Graph, rw graph.Rewrite) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = append(v.seen, rw.RemoveNodes...)
	v.befores = append(v.befores, before)
	if v.fail != "" && strings.Contains(rw.Reason, v.fail) {
		return errors.New("max abs error 0.5 > 1e-5")
	}
	return nil
}

func TestRunnerCallsValidatorForEveryRewrite(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	v := &recordingValidator{}
	_, _, err := (&host.Runner{Validator: v}).Run(context.Background(), g, []host.Step{{Pass: tp}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.seen, ",") != "drop1,drop2" {
		t.Errorf("validator saw %v", v.seen)
	}
	for _, b := range v.befores {
		if b.Node("drop1") == nil {
			t.Error("validator got a graph without the rewrite's nodes")
		}
	}
}

func TestRunnerValidationFailure(t *testing.T) {
	h := newHost(t)
	tp := load(t, h, "testpass.wasm.gz")
	g := testGraph()
	before := snapshot(g)
	v := &recordingValidator{fail: "model.dropout"}
	_, reports, err := (&host.Runner{Validator: v}).Run(context.Background(), g, []host.Step{{Pass: tp}})
	if !errors.Is(err, host.ErrValidationFailed) || !strings.Contains(err.Error(), "rewrite 1 (Dropout at model.dropout") ||
		!strings.Contains(err.Error(), "max abs error") {
		t.Fatalf("got %v", err)
	}
	if len(reports) != 1 || reports[0].Err == nil {
		t.Fatalf("reports %+v", reports)
	}
	assertUnchanged(t, g, before)

	out, reports, err := (&host.Runner{Validator: v}).Run(context.Background(), g, []host.Step{{Pass: tp, OnError: host.Skip}})
	if err != nil || !reports[0].Skipped || out.OpCounts()["Dropout"] != 2 {
		t.Fatalf("skip: %v %+v", err, reports)
	}
}

func TestRunnerStopsOnCancelEvenWhenSkipping(t *testing.T) {
	h := newHost(t)
	loop := load(t, h, "run_loop.wasm")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := host.Run(ctx, testGraph(), []host.Step{{Pass: loop, OnError: host.Skip}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestParseOnError(t *testing.T) {
	for in, want := range map[string]host.OnError{"": host.Fail, "fail": host.Fail, "skip": host.Skip} {
		got, err := host.ParseOnError(in)
		if err != nil || got != want || (in != "" && got.String() != in) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := host.ParseOnError("ignore"); err == nil {
		t.Error("accepted ignore")
	}
}
