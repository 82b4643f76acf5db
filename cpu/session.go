package cpu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

func kernelName() string {
	name := "generic Go kernels"
	if vec.HasAsm() {
		name = "avx2+fma kernels"
	}
	// The quantized products have their own kernels (quant.Kernel).
	return name + ", " + quant.Kernel() + " quantized kernels"
}

// ErrSessionClosed is returned by a Session used after Close.
var ErrSessionClosed = errors.New("cpu: session is closed")

// Session decodes one batch of sequences. The KV cache lives either in the
// graph's past/present tensors, which the session feeds back each step, or
// in the runtime-held Cache of KVCacheAttention nodes.
type Session struct {
	m      *Model
	batch  int
	maxSeq int
	cache  *Cache
	past   map[string]*tensor.Tensor
	mask   [][]int64 // running attention mask, one row per sequence
	real   []int64   // real tokens so far per row (for default positions)
	closed bool
	// mu makes Close wait for a Forward in flight: Close unmaps the
	// cache's memory, which a running step still reads.
	mu sync.Mutex
}

var _ backend.Session = (*Session)(nil)

// Len is the number of positions (real or padding) fed so far.
func (s *Session) Len() int { return len(s.mask[0]) }

func (s *Session) kvBytes() int64 {
	n := s.cache.Bytes()
	for _, t := range s.past {
		n += int64(len(t.Bytes()))
	}
	return n
}

// Forward appends step.Tokens to every row and returns their logits: the
// last position's, or every new position's with AllLogits.
func (s *Session) Forward(ctx context.Context, step backend.Step) (*backend.Logits, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSessionClosed
	}
	B := s.batch
	if len(step.Tokens) != B {
		return nil, fmt.Errorf("cpu: step has %d token rows, the session's batch is %d", len(step.Tokens), B)
	}
	S := len(step.Tokens[0])
	if S == 0 {
		return nil, fmt.Errorf("cpu: step has no tokens")
	}
	for b, row := range step.Tokens {
		if len(row) != S {
			return nil, fmt.Errorf("cpu: token row %d has %d tokens, row 0 has %d (left-pad shorter rows)", b, len(row), S)
		}
	}
	if err := checkRows("mask", step.Mask, B, S); err != nil {
		return nil, err
	}
	if err := checkRows("positions", step.Positions, B, S); err != nil {
		return nil, err
	}
	past := s.Len()
	if s.maxSeq > 0 && past+S > s.maxSeq {
		return nil, fmt.Errorf("cpu: %d cached + %d new positions exceed the session's capacity of %d", past, S, s.maxSeq)
	}
	m := s.m
	for b, row := range step.Tokens {
		for i, id := range row {
			if id < 0 {
				return nil, fmt.Errorf("cpu: token %d at row %d position %d is negative", id, b, i)
			}
		}
	}

	ids := tensor.New(graph.I64, B, S)
	pos := tensor.New(graph.I64, B, S)
	maskRows := make([][]int64, B)
	real := append([]int64(nil), s.real...)
	for b := 0; b < B; b++ {
		maskRows[b] = append(append(make([]int64, 0, past+S), s.mask[b]...), make([]int64, S)...)
		for i := 0; i < S; i++ {
			ids.I64()[b*S+i] = int64(step.Tokens[b][i])
			mv := int64(1)
			if step.Mask != nil && step.Mask[b][i] == 0 {
				mv = 0
			}
			maskRows[b][past+i] = mv
			// Hugging Face: position_ids = cumsum(mask) - 1, padding at 1.
			p := int64(1)
			if mv != 0 {
				p = real[b]
				real[b]++
			}
			if step.Positions != nil {
				p = step.Positions[b][i]
			}
			pos.I64()[b*S+i] = p
		}
	}
	am := tensor.New(graph.I64, B, past+S)
	for b := 0; b < B; b++ {
		copy(am.I64()[b*(past+S):], maskRows[b])
	}
	in := map[string]*tensor.Tensor{graph.InputIDs: ids, graph.AttentionMask: am}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.all == nil {
		return nil, fmt.Errorf("cpu: model is closed")
	}
	p := m.all
	if !step.AllLogits && m.last != nil {
		p = m.last
	}
	if err := s.feed(p, in, pos, past); err != nil {
		return nil, err
	}
	start := time.Now()
	out, err := p.RunWithCache(ctx, s.cache, in)
	if err != nil {
		return nil, fmt.Errorf("cpu: forward at position %d: %w", past, err)
	}
	m.calls++
	m.forward += time.Since(start)

	// Commit the step.
	s.mask = maskRows
	s.real = real
	for _, pio := range m.past {
		old := s.past[pio.in]
		s.past[pio.in] = out[pio.out]
		if old != nil && old != out[pio.out] {
			p.recycle(old)
		}
	}
	lg := out[m.logitsName]
	if lg.DType != graph.F32 {
		lg = lg.Convert(graph.F32)
	}
	P := lg.Shape[1]
	if !step.AllLogits && P > 1 {
		// The head was not recognised: keep the last position here.
		res := &backend.Logits{Batch: B, Positions: 1, Vocab: lg.Shape[2], Data: make([]float32, B*lg.Shape[2])}
		for b := 0; b < B; b++ {
			copy(res.Row(b, 0), lg.F32()[(b*P+P-1)*res.Vocab:(b*P+P)*res.Vocab])
		}
		return res, nil
	}
	return &backend.Logits{Batch: B, Positions: P, Vocab: lg.Shape[2], Data: lg.F32()}, nil
}

// feed adds the inputs beyond ids and mask: positions, past tensors and
// the merged decoder's branch flag.
func (s *Session) feed(p *Program, in map[string]*tensor.Tensor, pos *tensor.Tensor, past int) error {
	for _, v := range p.Inputs() {
		switch v.Name {
		case graph.PositionIDs:
			in[v.Name] = pos
		case graph.UseCacheBranch:
			in[v.Name] = tensor.FromBool([]int{1}, []bool{past > 0})
		}
	}
	if s.past == nil {
		s.past = map[string]*tensor.Tensor{}
		for _, pio := range s.m.past {
			h, d := int(pio.typ.Shape[1].Size), int(pio.typ.Shape[3].Size)
			s.past[pio.in] = tensor.New(pio.typ.DType, s.batch, h, 0, d)
		}
	}
	for k, t := range s.past {
		in[k] = t
	}
	// Convert to the declared dtypes (a graph may take i32 ids).
	for _, v := range p.Inputs() {
		if t := in[v.Name]; t != nil && t.DType != v.Type.DType {
			in[v.Name] = t.Convert(v.Type.DType)
		}
	}
	return nil
}

func checkRows[T any](what string, rows [][]T, B, S int) error {
	if rows == nil {
		return nil
	}
	if len(rows) != B {
		return fmt.Errorf("cpu: step has %d %s rows, want %d", len(rows), what, B)
	}
	for b, r := range rows {
		if len(r) != S {
			return fmt.Errorf("cpu: %s row %d has %d values, want %d", what, b, len(r), S)
		}
	}
	return nil
}

// Close frees the session's cache.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.m.mu.Lock()
	delete(s.m.sessions, s)
	s.m.mu.Unlock()
	s.cache.release()
	s.past, s.cache = nil, newCache(0)
	return nil
}
