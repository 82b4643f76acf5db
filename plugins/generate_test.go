package plugins

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/generate"
	"github.com/graphpass/graphpass/generate/sample"
)

func TestPluginGenerateMatchesLocal(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 64, 8)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "fake", Config{})
	ctx := context.Background()
	prompts := [][]int32{{1, 2, 3, 4}, {5, 6}}
	tests := []struct {
		name string
		p    generate.Params
	}{
		{"greedy", generate.Params{MaxNewTokens: 6}},
		{"sampled", generate.Params{MaxNewTokens: 6, Seed: 7, Sampling: sample.Params{Temperature: 1.5, TopK: 20, TopP: 0.95, RepetitionPenalty: 1.2}}},
		{"eos", generate.Params{MaxNewTokens: 6, EOS: []int32{3, 5, 6}, PadID: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				events []generate.Event
				res    *generate.Result
			}
			run := func(rt backend.Runtime, remote bool) result {
				m, err := rt.Load(ctx, g, backend.LoadOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				s, err := m.NewSession(ctx, backend.SessionOptions{Batch: len(prompts), MaxSeq: 16})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var out result
				on := func(e generate.Event) error { out.events = append(out.events, e); return nil }
				if remote {
					out.res, err = s.(*Session).Generate(ctx, prompts, tt.p, on)
				} else {
					out.res, err = generate.Run(ctx, s, prompts, tt.p, on)
				}
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			want, got := run(&fakeRuntime{}, false), run(r, true)
			if !reflect.DeepEqual(got.events, want.events) {
				t.Fatalf("events\n got %v\nwant %v", got.events, want.events)
			}
			if !reflect.DeepEqual(got.res.Tokens, want.res.Tokens) || !reflect.DeepEqual(got.res.Finish, want.res.Finish) ||
				got.res.PromptTokens != want.res.PromptTokens || got.res.DecodeSteps != want.res.DecodeSteps {
				t.Fatalf("result\n got %+v\nwant %+v", got.res, want.res)
			}
			if got.res.PrefillTime <= 0 {
				t.Errorf("prefill time %v", got.res.PrefillTime)
			}
		})
	}
}

func TestPluginGenerateStopAndErrors(t *testing.T) {
	g, err := fakeGraph(t.TempDir(), 64, 8)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, "fake", Config{})
	ctx := context.Background()
	m, err := r.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Session {
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 1, MaxSeq: 64})
		if err != nil {
			t.Fatal(err)
		}
		return s.(*Session)
	}
	// ErrStop ends early without an error and keeps what arrived.
	n := 0
	res, err := open().Generate(ctx, [][]int32{{1}}, generate.Params{MaxNewTokens: 20}, func(generate.Event) error {
		n++
		if n == 3 {
			return generate.ErrStop
		}
		return nil
	})
	if err != nil || len(res.Tokens[0]) != 3 {
		t.Fatalf("res %+v err %v", res, err)
	}
	// Another callback error is returned as is.
	boom := errors.New("boom")
	if _, err := open().Generate(ctx, [][]int32{{1}}, generate.Params{MaxNewTokens: 5}, func(generate.Event) error { return boom }); err != boom {
		t.Fatalf("err = %v", err)
	}
	// Invalid parameters fail before anything is sent.
	if _, err := open().Generate(ctx, [][]int32{{1}}, generate.Params{}, nil); err == nil || !strings.Contains(err.Error(), "max new tokens") {
		t.Fatalf("err = %v", err)
	}
	// The runtime's own errors come back as such, and the plugin lives on.
	if _, err := open().Generate(ctx, [][]int32{{1000}}, generate.Params{MaxNewTokens: 2}, nil); err == nil || !strings.Contains(err.Error(), "token 1000 out of range") || errors.Is(err, ErrPluginFailed) {
		t.Fatalf("err = %v", err)
	}
	if _, err := open().Generate(ctx, [][]int32{{1}}, generate.Params{MaxNewTokens: 2}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPluginHangMidGenerate(t *testing.T) {
	r, _, s := startSession(t, "hang-in-forward", Config{StepTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	t0 := time.Now()
	_, err := s.(*Session).Generate(ctx, [][]int32{{1}}, generate.Params{MaxNewTokens: 4}, nil)
	if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), "Generate: no token within 300ms; the plugin was stopped") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	waitGone(t, r.Info().PID)
}

func TestPluginCrashMidGenerate(t *testing.T) {
	r, _, s := startSession(t, "exit-in-forward", Config{})
	ctx := context.Background()
	_, err := s.(*Session).Generate(ctx, [][]int32{{1}}, generate.Params{MaxNewTokens: 4}, nil)
	if !errors.Is(err, ErrPluginFailed) || !strings.Contains(err.Error(), "Generate: the plugin process exited (exit status 3)") {
		t.Fatalf("err = %v", err)
	}
	waitGone(t, r.Info().PID)
}
