package plugins

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graphpass/graphpass/generate"
	"github.com/graphpass/graphpass/generate/sample"
	"github.com/graphpass/graphpass/plugins/runtimev1"
)

// Generate implements runtimev1.RuntimeServer: generate.Run inside the
// plugin, next to the logits, streaming every chosen token.
func (s *Server) Generate(req *runtimev1.GenerateRequest, stream runtimev1.Runtime_GenerateServer) error {
	ss, err := s.session(req.SessionId)
	if err != nil {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	p := paramsFromProto(req)
	res, err := generate.Run(stream.Context(), ss.sess, rows32(req.Prompts), p, func(e generate.Event) error {
		return stream.Send(&runtimev1.GenerateEvent{Token: &runtimev1.TokenEvent{
			Row: int32(e.Row), Step: int32(e.Step), Id: e.ID, Eos: e.EOS, Last: e.Last}})
	})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			return err // the stream itself failed
		}
		return appError(err)
	}
	r := &runtimev1.GenerateResult{
		Tokens: toRows32(res.Tokens), PromptTokens: int32(res.PromptTokens),
		PrefillMillis: millis(res.PrefillTime), DecodeMillis: millis(res.DecodeTime), DecodeSteps: int32(res.DecodeSteps),
		SampleMillis: millis(res.SampleTime), FirstTokenMillis: millis(res.FirstTokenLag),
	}
	for _, f := range res.Finish {
		r.Finish = append(r.Finish, string(f))
	}
	return stream.Send(&runtimev1.GenerateEvent{Result: r})
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fromMillis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func paramsFromProto(req *runtimev1.GenerateRequest) generate.Params {
	p := generate.Params{MaxNewTokens: int(req.MaxNewTokens), EOS: req.EosIds, IgnoreEOS: req.IgnoreEos, Seed: req.Seed, PadID: req.PadId}
	if sp := req.Sampling; sp != nil {
		p.Sampling = sample.Params{Temperature: sp.Temperature, TopK: int(sp.TopK), TopP: sp.TopP, MinP: sp.MinP, RepetitionPenalty: sp.RepetitionPenalty}
	}
	return p
}

func paramsToProto(sessionID uint64, prompts [][]int32, p generate.Params) *runtimev1.GenerateRequest {
	return &runtimev1.GenerateRequest{
		SessionId: sessionID, Prompts: toRows32(prompts), MaxNewTokens: int32(p.MaxNewTokens),
		EosIds: p.EOS, IgnoreEos: p.IgnoreEOS, Seed: p.Seed, PadId: p.PadID,
		Sampling: &runtimev1.Sampling{Temperature: p.Sampling.Temperature, TopK: int32(p.Sampling.TopK),
			TopP: p.Sampling.TopP, MinP: p.Sampling.MinP, RepetitionPenalty: p.Sampling.RepetitionPenalty},
	}
}

// Generate runs generate.Run inside the plugin on this session (opened
// for len(prompts) rows), calling onToken for every token as it arrives.
// It behaves like generate.Run on a local session: same parameters, same
// events, same result, ErrStop from onToken ends it early without error.
// Each token must arrive within Config.StepTimeout.
func (s *Session) Generate(ctx context.Context, prompts [][]int32, p generate.Params, onToken func(generate.Event) error) (*generate.Result, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	req := paramsToProto(s.id, prompts, p)
	var res *generate.Result
	partial := &generate.Result{Tokens: make([][]int32, len(prompts)), Finish: make([]generate.Finish, len(prompts))}
	stopped := false
	var cbErr error
	err := s.r.do(ctx, "Generate", 0, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wd := newWatchdog(s.r.cfg.StepTimeout, cancel)
		defer wd.stop()
		stream, err := s.r.rpc.Generate(ctx, req)
		if err != nil {
			return err
		}
		for {
			ev, err := stream.Recv()
			if err == io.EOF {
				if res == nil {
					return status.Error(codes.OutOfRange, "plugin ended Generate without a result")
				}
				return nil
			}
			if err != nil {
				if wd.fired() {
					return errStepTimeout
				}
				return err
			}
			wd.reset()
			if t := ev.Token; t != nil {
				e := generate.Event{Row: int(t.Row), Step: int(t.Step), ID: t.Id, EOS: t.Eos, Last: t.Last}
				if e.Row < 0 || e.Row >= len(prompts) {
					return status.Errorf(codes.OutOfRange, "plugin sent a token for row %d of %d", e.Row, len(prompts))
				}
				partial.Tokens[e.Row] = append(partial.Tokens[e.Row], e.ID)
				if onToken != nil {
					if err := onToken(e); err != nil {
						if errors.Is(err, generate.ErrStop) {
							stopped = true
						} else {
							cbErr = err
						}
						return nil
					}
				}
			}
			if r := ev.Result; r != nil {
				res = &generate.Result{
					Tokens: rows32(r.Tokens), PromptTokens: int(r.PromptTokens),
					PrefillTime: fromMillis(r.PrefillMillis), DecodeTime: fromMillis(r.DecodeMillis), DecodeSteps: int(r.DecodeSteps),
					SampleTime: fromMillis(r.SampleMillis), FirstTokenLag: fromMillis(r.FirstTokenMillis),
				}
				for _, f := range r.Finish {
					res.Finish = append(res.Finish, generate.Finish(f))
				}
				if len(res.Tokens) != len(prompts) || len(res.Finish) != len(prompts) {
					return status.Errorf(codes.OutOfRange, "plugin returned %d rows for %d prompts", len(res.Tokens), len(prompts))
				}
			}
		}
	})
	switch {
	case cbErr != nil:
		return nil, cbErr
	case stopped:
		return partial, nil
	case err != nil:
		return nil, err
	}
	return res, nil
}

// errStepTimeout reports a Generate stream that went silent too long.
var errStepTimeout = errors.New("step timeout")

// watchdog cancels a call when no event arrives within d.
type watchdog struct {
	d    time.Duration
	t    *time.Timer
	mu   sync.Mutex
	fire bool
}

func newWatchdog(d time.Duration, cancel func()) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(d, func() {
		w.mu.Lock()
		w.fire = true
		w.mu.Unlock()
		cancel()
	})
	return w
}

func (w *watchdog) reset() { w.t.Reset(w.d) }
func (w *watchdog) stop()  { w.t.Stop() }
func (w *watchdog) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fire
}
