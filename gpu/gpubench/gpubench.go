// Package gpubench measures a runtime end to end on a rewritten decoder
// graph, typically a synthetic checkpoint in a real model's shape
// (model.Synthetic, e.g. "qwen3-0.6b") after the default passes: prefill
// tokens per second, batch-1 decode tokens per second, and decode's share
// of the memory-bandwidth limit (weight + KV bytes read per token over the
// device's copy bandwidth measured in the same run).
package gpubench

import (
	"context"
	"fmt"
	"github.com/graphpass/graphpass/generate/sample"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// Options configure Run.
type Options struct {
	Model        string // a model.Synthetic name
	PromptTokens int
	NewTokens    int
	// Bandwidth measures the device's copy bandwidth in bytes/s (read +
	// written); nil leaves the limit out.
	Bandwidth func() (float64, error)
}

// Result is one measurement.
type Result struct {
	Model              string  `json:"model"`
	Device             string  `json:"device"`
	PromptTokens       int     `json:"prompt_tokens"`
	NewTokens          int     `json:"new_tokens"`
	PrefillTokS        float64 `json:"prefill_tok_s"`
	DecodeTokS         float64 `json:"decode_tok_s"`
	DecodeMsPerToken   float64 `json:"decode_ms_per_token"`
	WeightBytes        int64   `json:"weight_bytes"`
	KVBytesPerToken    float64 `json:"kv_bytes_read_per_token"`
	BytesPerToken      float64 `json:"bytes_per_token"`
	CopyGBs            float64 `json:"copy_gb_s"`
	BandwidthLimitTokS float64 `json:"bandwidth_limit_tok_s"`
	Utilization        float64 `json:"bw_utilization"`
	LoadSeconds        float64 `json:"load_s"`
}

// Measure loads g (a rewritten decoder graph, e.g. of a model.Synthetic
// checkpoint after the default passes) on rt and measures it.
func Measure(ctx context.Context, rt backend.Runtime, g *graph.Graph, o Options) (*Result, error) {
	start := time.Now()
	m, err := rt.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	res := &Result{Model: o.Model, Device: rt.Capabilities().Device, PromptTokens: o.PromptTokens, NewTokens: o.NewTokens,
		LoadSeconds: time.Since(start).Seconds(), WeightBytes: m.Stats().WeightBytes}
	meta := g.Metadata
	layers, _ := strconv.Atoi(meta[graph.MetaNumLayers])
	kvHeads, _ := strconv.Atoi(meta[graph.MetaNumKVHeads])
	headDim, _ := strconv.Atoi(meta[graph.MetaHeadDim])
	vocab, _ := strconv.Atoi(meta[graph.MetaVocabSize])
	r := rand.New(rand.NewPCG(1, 2))
	prompt := make([]int32, o.PromptTokens)
	for i := range prompt {
		prompt[i] = int32(r.IntN(vocab))
	}
	// A warm-up session (plans, first launches, graph capture), then the timed one.
	for pass := 0; pass < 2; pass++ {
		newTok := o.NewTokens
		if pass == 0 {
			newTok = 4
		}
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 1, MaxSeq: o.PromptTokens + o.NewTokens + 1})
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		lg, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{prompt}})
		if err != nil {
			s.Close()
			return nil, err
		}
		t1 := time.Now()
		for i := 0; i < newTok; i++ {
			id := int(sample.Argmax(lg.Row(0, 0)))
			if lg, err = s.Forward(ctx, backend.Step{Tokens: [][]int32{{int32(id)}}}); err != nil {
				s.Close()
				return nil, fmt.Errorf("decode step %d: %w", i, err)
			}
		}
		t2 := time.Now()
		s.Close()
		if pass == 1 {
			res.PrefillTokS = float64(o.PromptTokens) / t1.Sub(t0).Seconds()
			res.DecodeTokS = float64(newTok) / t2.Sub(t1).Seconds()
			res.DecodeMsPerToken = t2.Sub(t1).Seconds() * 1000 / float64(newTok)
		}
	}
	avgT := float64(o.PromptTokens) + float64(o.NewTokens)/2
	res.KVBytesPerToken = float64(layers*2*kvHeads*headDim*4) * avgT
	res.BytesPerToken = float64(res.WeightBytes) + res.KVBytesPerToken
	if o.Bandwidth != nil {
		bw, err := o.Bandwidth()
		if err != nil {
			return nil, err
		}
		res.CopyGBs = bw / 1e9
		res.BandwidthLimitTokS = bw / res.BytesPerToken
		res.Utilization = res.DecodeTokS / res.BandwidthLimitTokS
	}
	return res, nil
}
