package generate

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/generate/sample"
	"github.com/graphpass/graphpass/tokenizer"
)

// fakeSession is a deterministic "model": the next token after t is
// (t*3+1) mod vocab, with a margin of 5 logits; it records every Step.
type fakeSession struct {
	vocab int
	steps []backend.Step
	next  func(last int32) int32
}

func (f *fakeSession) Forward(_ context.Context, st backend.Step) (*backend.Logits, error) {
	f.steps = append(f.steps, st)
	l := &backend.Logits{Batch: len(st.Tokens), Positions: 1, Vocab: f.vocab}
	l.Data = make([]float32, l.Batch*f.vocab)
	for r, row := range st.Tokens {
		last := row[len(row)-1]
		nx := f.next(last)
		out := l.Row(r, 0)
		for i := range out {
			out[i] = float32(i%7) * 0.1
		}
		out[nx] = 5
	}
	return l, nil
}

func (f *fakeSession) Close() error { return nil }

func newFake(vocab int) *fakeSession {
	return &fakeSession{vocab: vocab, next: func(t int32) int32 { return (t*3 + 1) % int32(vocab) }}
}

func TestGreedy(t *testing.T) {
	s := newFake(50)
	res, err := Run(context.Background(), s, [][]int32{{1, 2}}, Params{MaxNewTokens: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2 -> 7 -> 22 -> 17 -> 2
	if want := [][]int32{{7, 22, 17, 2}}; !reflect.DeepEqual(res.Tokens, want) {
		t.Errorf("tokens = %v, want %v", res.Tokens, want)
	}
	if res.Finish[0] != FinishLength {
		t.Errorf("finish = %v", res.Finish)
	}
	// One prefill with the whole prompt, then one token per step; no
	// Forward after the last token.
	if len(s.steps) != 4 || !reflect.DeepEqual(s.steps[0].Tokens, [][]int32{{1, 2}}) || s.steps[0].Mask != nil {
		t.Errorf("steps = %+v", s.steps)
	}
	for i, st := range s.steps[1:] {
		if len(st.Tokens[0]) != 1 || st.Tokens[0][0] != res.Tokens[0][i] {
			t.Errorf("decode step %d fed %v", i+1, st.Tokens)
		}
	}
	if res.PromptTokens != 2 || res.DecodeSteps != 3 {
		t.Errorf("PromptTokens %d DecodeSteps %d", res.PromptTokens, res.DecodeSteps)
	}
}

func TestEOSStopAndIgnore(t *testing.T) {
	p := Params{MaxNewTokens: 10, EOS: []int32{22}}
	res, err := Run(context.Background(), newFake(50), [][]int32{{2}}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{7, 22}; !reflect.DeepEqual(res.Tokens[0], want) || res.Finish[0] != FinishEOS {
		t.Errorf("tokens = %v finish %v, want %v eos", res.Tokens[0], res.Finish[0], want)
	}
	p.IgnoreEOS = true
	res, err = Run(context.Background(), newFake(50), [][]int32{{2}}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tokens[0]) != 10 || res.Finish[0] != FinishLength {
		t.Errorf("ignore-eos: %d tokens, finish %v", len(res.Tokens[0]), res.Finish[0])
	}
}

func TestBatchLeftPaddingAndEarlyFinish(t *testing.T) {
	s := newFake(50)
	p := Params{MaxNewTokens: 5, EOS: []int32{22}, PadID: 0}
	var events []Event
	res, err := Run(context.Background(), s, [][]int32{{9, 9, 2}, {1}}, p, func(e Event) error {
		events = append(events, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: 2 -> 7 -> 22 (EOS). Row 1: 1 -> 4 -> 13 -> 40 -> 21 -> 14.
	if want := [][]int32{{7, 22}, {4, 13, 40, 21, 14}}; !reflect.DeepEqual(res.Tokens, want) {
		t.Errorf("tokens = %v, want %v", res.Tokens, want)
	}
	if !reflect.DeepEqual(res.Finish, []Finish{FinishEOS, FinishLength}) {
		t.Errorf("finish = %v", res.Finish)
	}
	pre := s.steps[0]
	if !reflect.DeepEqual(pre.Tokens, [][]int32{{9, 9, 2}, {0, 0, 1}}) || !reflect.DeepEqual(pre.Mask, [][]int32{{1, 1, 1}, {0, 0, 1}}) {
		t.Errorf("prefill = %+v", pre)
	}
	// Row 0's EOS is fed once (the step computing row 1's next token),
	// then the pad id.
	if got := s.steps[3].Tokens[0][0]; got != 0 {
		t.Errorf("finished row fed %d, want pad 0", got)
	}
	if len(events) != 7 || !events[2].EOS || !events[2].Last || events[2].Row != 0 || !events[6].Last || events[6].EOS {
		t.Errorf("events = %+v", events)
	}
}

func TestSeededSamplingIsReproducibleAndPerRow(t *testing.T) {
	s := newFake(50)
	s.next = func(int32) int32 { return 0 }
	// Flat-ish logits: sampling really chooses.
	p := Params{MaxNewTokens: 20, Sampling: sample.Params{Temperature: 5}, Seed: 11}
	a, _ := Run(context.Background(), s, [][]int32{{1}, {2}}, p, nil)
	b, _ := Run(context.Background(), s, [][]int32{{1}, {2}}, p, nil)
	if !reflect.DeepEqual(a.Tokens, b.Tokens) {
		t.Error("same seed, different tokens")
	}
	// Row 1 alone with seed+1 draws the same as row 1 of the batch.
	p1 := p
	p1.Seed = 12
	c, _ := Run(context.Background(), s, [][]int32{{2}}, p1, nil)
	if !reflect.DeepEqual(c.Tokens[0], a.Tokens[1]) {
		t.Errorf("row 1 depends on its batch: %v vs %v", c.Tokens[0], a.Tokens[1])
	}
	p.Seed = 99
	d, _ := Run(context.Background(), s, [][]int32{{1}, {2}}, p, nil)
	if reflect.DeepEqual(a.Tokens, d.Tokens) {
		t.Error("different seeds, same 40 tokens")
	}
}

func TestRepetitionPenaltyChangesGreedy(t *testing.T) {
	s := newFake(50)
	s.next = func(int32) int32 { return 3 }
	// Without a penalty: always 3. With a big one, 3 (logit 5) drops below
	// the 0.6 of tokens 6, 13, ... once it has been generated.
	res, _ := Run(context.Background(), s, [][]int32{{1}}, Params{MaxNewTokens: 3}, nil)
	if !reflect.DeepEqual(res.Tokens[0], []int32{3, 3, 3}) {
		t.Fatalf("no penalty: %v", res.Tokens[0])
	}
	res, _ = Run(context.Background(), s, [][]int32{{1}}, Params{MaxNewTokens: 3, Sampling: sample.Params{RepetitionPenalty: 10}}, nil)
	if res.Tokens[0][0] != 3 || res.Tokens[0][1] == 3 {
		t.Errorf("penalty 10: %v", res.Tokens[0])
	}
}

func TestCallbackStopAndErrors(t *testing.T) {
	n := 0
	res, err := Run(context.Background(), newFake(50), [][]int32{{1}}, Params{MaxNewTokens: 10}, func(Event) error {
		n++
		if n == 3 {
			return ErrStop
		}
		return nil
	})
	if err != nil || len(res.Tokens[0]) != 3 {
		t.Errorf("ErrStop: err %v, %d tokens", err, len(res.Tokens[0]))
	}
	boom := errors.New("boom")
	if _, err := Run(context.Background(), newFake(50), [][]int32{{1}}, Params{MaxNewTokens: 10}, func(Event) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, newFake(50), [][]int32{{1}}, Params{MaxNewTokens: 10}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
	for _, bad := range []struct {
		prompts [][]int32
		p       Params
	}{
		{nil, Params{MaxNewTokens: 1}},
		{[][]int32{{}}, Params{MaxNewTokens: 1}},
		{[][]int32{{1}}, Params{MaxNewTokens: 0}},
		{[][]int32{{1}}, Params{MaxNewTokens: 1, Sampling: sample.Params{TopP: 2}}},
	} {
		if _, err := Run(context.Background(), newFake(50), bad.prompts, bad.p, nil); err == nil {
			t.Errorf("Run(%v, %+v) = nil error", bad.prompts, bad.p)
		}
	}
}

func TestDefaultParams(t *testing.T) {
	gc, err := LoadGenerationConfig("../models/kjv-fortunes-7m")
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultParams(gc)
	want := sample.Params{Temperature: 0.8, TopK: DefaultTopK, TopP: 0.95}
	if p.Sampling != want || !reflect.DeepEqual(p.EOS, []int32{0}) || p.PadID != 0 {
		t.Errorf("DefaultParams = %+v", p)
	}
	gc, err = LoadGenerationConfig("../testdata/fixtures/qwen3-tiny")
	if err != nil {
		t.Fatal(err)
	}
	if p := DefaultParams(gc); p.MaxNewTokens <= 0 {
		t.Errorf("qwen3-tiny DefaultParams = %+v", p)
	}
	f := false
	if p := DefaultParams(GenerationConfig{DoSample: &f}); !p.Sampling.Greedy() {
		t.Error("do_sample false is not greedy")
	}
	gc, err = ParseGenerationConfig([]byte(`{"eos_token_id": [1, 2], "do_sample": true, "top_k": 0}`))
	if err != nil || !reflect.DeepEqual(gc.EOSTokenIDs, []int32{1, 2}) || DefaultParams(gc).Sampling.TopK != 0 {
		t.Errorf("list eos: %+v %v", gc, err)
	}
	if _, err := ParseGenerationConfig([]byte(`{"eos_token_id": "x"}`)); err == nil {
		t.Error("bad eos_token_id accepted")
	}
	ids, err := EOSFromMetadata(map[string]string{"eos_token_ids": "151645, 151643"})
	if err != nil || !reflect.DeepEqual(ids, []int32{151645, 151643}) {
		t.Errorf("EOSFromMetadata = %v %v", ids, err)
	}
	if _, err := EOSFromMetadata(map[string]string{"eos_token_ids": "a"}); err == nil {
		t.Error("bad metadata accepted")
	}
}

// TestTextStreamer streams the bundled model's tokenizer: the pieces
// concatenate to the decoded text and EOS is left out.
func TestTextStreamer(t *testing.T) {
	tok, err := tokenizer.Load("../models/kjv-fortunes-7m")
	if err != nil {
		t.Fatal(err)
	}
	want := "In the beginning 🤖 was ünïcödé"
	ids := tok.Encode(want, false)
	eos, _ := tok.EOS()
	ids = append(ids, eos)
	// The model replays ids: the token chosen at step n is ids[n+1].
	s := newFake(tok.VocabSize())
	step := 0
	s.next = func(int32) int32 {
		step++
		return ids[min(step, len(ids)-1)]
	}
	var b strings.Builder
	var pieces int
	_, err = Run(context.Background(), s, [][]int32{{ids[0]}}, Params{MaxNewTokens: 100, EOS: []int32{eos}},
		TextStreamer(tok, true, func(row int, text string) error {
			pieces++
			b.WriteString(text)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	first := tok.Decode(ids[:1], tokenizer.DecodeOptions{})
	if got := first + b.String(); got != want {
		t.Errorf("streamed %q, want %q", got, want)
	}
	if pieces < 5 {
		t.Errorf("%d pieces: not streamed", pieces)
	}
}

// greedyFake also picks greedy tokens itself (like a GPU runtime), counting
// how often it was asked to.
type greedyFake struct {
	*fakeSession
	greedyCalls int
}

func (g *greedyFake) ForwardGreedy(ctx context.Context, st backend.Step) ([]int32, error) {
	g.greedyCalls++
	lg, err := g.Forward(ctx, st)
	if err != nil {
		return nil, err
	}
	return backend.ArgmaxLast(lg)
}

// TestGreedyFastPath: greedy decoding without a repetition penalty asks a
// GreedySession for ids only and chooses exactly the tokens sampling would;
// with a penalty it needs the logits.
func TestGreedyFastPath(t *testing.T) {
	prompts := [][]int32{{1, 2}, {5}}
	want, err := Run(context.Background(), newFake(50), prompts, Params{MaxNewTokens: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &greedyFake{fakeSession: newFake(50)}
	got, err := Run(context.Background(), g, prompts, Params{MaxNewTokens: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Tokens, want.Tokens) || g.greedyCalls != 5 {
		t.Fatalf("fast path: tokens %v (want %v), %d greedy calls", got.Tokens, want.Tokens, g.greedyCalls)
	}
	g = &greedyFake{fakeSession: newFake(50)}
	if _, err := Run(context.Background(), g, prompts, Params{MaxNewTokens: 3, Sampling: sample.Params{RepetitionPenalty: 1.3}}, nil); err != nil {
		t.Fatal(err)
	}
	if g.greedyCalls != 0 {
		t.Fatalf("repetition penalty used the logits-free path %d times", g.greedyCalls)
	}
}
