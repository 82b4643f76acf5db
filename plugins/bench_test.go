package plugins

import (
	"context"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/generate"
)

// benchSession opens a one-row session of the fake runtime, through the
// plugin protocol (remote) or in this process, over a vocab-sized
// embedding (the fake's logits are vocab wide).
func benchSession(b *testing.B, remote bool, vocab int) backend.Session {
	b.Helper()
	g, err := fakeGraph(b.TempDir(), vocab, 1)
	if err != nil {
		b.Fatal(err)
	}
	var rt backend.Runtime = &fakeRuntime{}
	if remote {
		r, err := Start(context.Background(), self("fake"), Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		rt = r
	}
	m, err := rt.Load(context.Background(), g, backend.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.NewSession(context.Background(), backend.SessionOptions{Batch: 1})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkForward is the cost of one decode step's Forward with logits
// back, in process and through the plugin: the protocol's overhead per
// token when the host samples. vocab 151936 is Qwen3's (600 KB of logits).
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct {
		name   string
		remote bool
		vocab  int
	}{
		{"inproc/vocab=512", false, 512},
		{"plugin/vocab=512", true, 512},
		{"inproc/vocab=151936", false, 151936},
		{"plugin/vocab=151936", true, 151936},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := benchSession(b, bc.remote, bc.vocab)
			step := backend.Step{Tokens: [][]int32{{1}}}
			b.SetBytes(int64(4 * bc.vocab))
			b.ResetTimer()
			for range b.N {
				if _, err := s.Forward(context.Background(), step); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGenerateToken is the cost per generated token when the plugin
// runs the decoding loop and samples next to the logits (only token ids
// cross the process boundary), against the host sampling after each
// Forward through the plugin.
func BenchmarkGenerateToken(b *testing.B) {
	const vocab, tokens = 151936, 32
	for _, bc := range []struct {
		name     string
		inPlugin bool
	}{{"sample-in-plugin", true}, {"sample-in-host", false}} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := fakeGraph(b.TempDir(), vocab, 1)
			if err != nil {
				b.Fatal(err)
			}
			r, err := Start(context.Background(), self("fake"), Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			ctx := context.Background()
			m, err := r.Load(ctx, g, backend.LoadOptions{})
			if err != nil {
				b.Fatal(err)
			}
			p := generate.Params{MaxNewTokens: tokens, IgnoreEOS: true}
			b.ResetTimer()
			for range b.N {
				s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 1, MaxSeq: tokens + 1})
				if err != nil {
					b.Fatal(err)
				}
				if bc.inPlugin {
					_, err = s.(*Session).Generate(ctx, [][]int32{{1}}, p, nil)
				} else {
					_, err = generate.Run(ctx, s, [][]int32{{1}}, p, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*tokens), "µs/token")
		})
	}
}
