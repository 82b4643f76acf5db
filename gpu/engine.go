package gpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/graph"
)

// Device is the thin layer a GPU API (CUDA, Metal) gives the shared runtime:
// memory, copies, and executing a plan's dispatches in order. Everything
// else — graph analysis, launch plans, sessions, KV-cache bookkeeping — is
// shared and lives in this package.
type Device interface {
	// Name is the runtime name ("cuda", "metal"); Description the device,
	// e.g. "NVIDIA H100 80GB HBM3".
	Name() string
	Description() string
	// Alloc returns a device buffer of size bytes (contents undefined).
	Alloc(size int64) (Buffer, error)
	Free(Buffer)
	// Upload copies data to dst at byte offset off, ordered before later Runs.
	Upload(dst Buffer, off int64, data []byte) error
	// Download copies len(dst) bytes from src at off after all earlier work.
	Download(dst []byte, src Buffer, off int64) error
	// Run executes every dispatch of plan in order with bindings. A device
	// may cache per-plan state (a captured CUDA graph) until Release.
	Run(plan *Plan, b *Bindings) error
	// Release drops what the device cached for plan.
	Release(plan *Plan)
	Close() error
}

// Buffer is a device allocation.
type Buffer interface {
	Size() int64
}

// Bindings resolves a plan's Buf regions to device buffers.
type Bindings struct {
	Weights []Buffer
	Arena   Buffer
	K, V    []Buffer
	IO      Buffer
	Dummy   Buffer
}

// Resolve returns the buffer and byte offset a binding points at.
func (b *Bindings) Resolve(ref Buf) (Buffer, int64) {
	switch ref.Region {
	case RegionWeight:
		return b.Weights[ref.Index], ref.Offset
	case RegionArena:
		return b.Arena, ref.Offset
	case RegionKCache:
		return b.K[ref.Index], ref.Offset
	case RegionVCache:
		return b.V[ref.Index], ref.Offset
	case RegionIO:
		return b.IO, ref.Offset
	}
	return b.Dummy, 0
}

// Runtime is a backend.Runtime over a Device.
type Runtime struct {
	dev           Device
	compileMillis float64
}

// NewRuntime wraps dev. compileMillis is what compiling the kernels took
// (reported in Stats).
func NewRuntime(dev Device, compileMillis float64) *Runtime {
	return &Runtime{dev: dev, compileMillis: compileMillis}
}

// Device returns the runtime's device layer.
func (r *Runtime) Device() Device { return r.dev }

// Capabilities implements backend.Runtime.
func (r *Runtime) Capabilities() backend.Capabilities {
	return Capabilities(r.dev.Name(), r.dev.Description())
}

// Close implements backend.Runtime.
func (r *Runtime) Close() error { return r.dev.Close() }

// Load implements backend.Runtime: analyses g and uploads its weights once.
func (r *Runtime) Load(ctx context.Context, g *graph.Graph, opts backend.LoadOptions) (backend.Model, error) {
	prog, err := NewProgram(r.dev.Name(), g)
	if err != nil {
		return nil, err
	}
	m := &Model{rt: r, prog: prog, maxPos: 4096}
	if v, err := strconv.Atoi(g.Metadata[graph.MetaMaxPositions]); err == nil && v > 0 {
		m.maxPos = v
	}
	for i := range prog.Weights {
		if err := ctx.Err(); err != nil {
			m.Close()
			return nil, err
		}
		w := &prog.Weights[i]
		data, err := ReadWeight(w)
		if err != nil {
			m.Close()
			return nil, err
		}
		size := max(int64(len(data)), 4)
		buf, err := r.dev.Alloc(size)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("weight %s (%d bytes): %w", w.Name, len(data), err)
		}
		m.weights = append(m.weights, buf)
		m.deviceBytes += size
		if len(data) > 0 {
			if err := r.dev.Upload(buf, 0, data); err != nil {
				m.Close()
				return nil, fmt.Errorf("weight %s: %w", w.Name, err)
			}
		}
		if w.Init != nil {
			m.weightBytes += w.Init.Type.ByteSize()
		}
	}
	if m.dummy, err = r.dev.Alloc(256); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Model is a loaded graph on a device.
type Model struct {
	rt          *Runtime
	prog        *Program
	weights     []Buffer
	dummy       Buffer
	maxPos      int
	weightBytes int64
	deviceBytes int64

	mu      sync.Mutex
	calls   int64
	millis  float64
	kvBytes int64
}

// Program returns the analysed graph.
func (m *Model) Program() *Program { return m.prog }

// Stats implements backend.Model.
func (m *Model) Stats() backend.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return backend.Stats{
		WeightBytes: m.weightBytes, DeviceBytes: m.deviceBytes + m.kvBytes, KVCacheBytes: m.kvBytes,
		CompileMillis: m.rt.compileMillis, ForwardCalls: m.calls, ForwardMillis: m.millis,
	}
}

// Close implements backend.Model.
func (m *Model) Close() error {
	for _, b := range m.weights {
		m.rt.dev.Free(b)
	}
	m.weights = nil
	if m.dummy != nil {
		m.rt.dev.Free(m.dummy)
		m.dummy = nil
	}
	return nil
}

// NewSession implements backend.Model: allocates the KV caches and the
// step I/O buffer for opts.Batch rows of up to opts.MaxSeq positions.
func (m *Model) NewSession(ctx context.Context, opts backend.SessionOptions) (backend.Session, error) {
	b := opts.Batch
	if b <= 0 {
		b = 1
	}
	capacity := opts.MaxSeq
	if capacity <= 0 {
		capacity = m.maxPos
	}
	s := &Session{m: m, state: NewStepState(b, capacity), plans: map[planKey]*sessionPlan{}}
	dev := m.rt.dev
	for _, l := range m.prog.Layers {
		kb := int64(b*l.KVHeads*capacity*l.HeadDim) * 4
		vb := int64(b*l.KVHeads*capacity*l.ValueDim) * 4
		k, err := dev.Alloc(kb)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("KV cache of layer %d (%d bytes): %w", l.Layer, kb, err)
		}
		s.k = append(s.k, k)
		v, err := dev.Alloc(vb)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("KV cache of layer %d (%d bytes): %w", l.Layer, vb, err)
		}
		s.v = append(s.v, v)
		s.kvBytes += kb + vb
	}
	io, err := dev.Alloc(IOLayout{Batch: b, Cap: capacity}.Bytes())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.io = io
	m.mu.Lock()
	m.kvBytes += s.kvBytes
	m.mu.Unlock()
	return s, nil
}

type planKey struct {
	seq      int
	lastOnly bool
}

type sessionPlan struct {
	plan  *Plan
	arena Buffer
	used  int64
}

// maxPlans bounds the plans (and arenas) a session keeps.
const maxPlans = 4

// Session is one batch being decoded on a device.
type Session struct {
	m       *Model
	state   *StepState
	k, v    []Buffer
	io      Buffer
	kvBytes int64
	plans   map[planKey]*sessionPlan
	tick    int64
	closed  bool
}

func (s *Session) plan(seq int, lastOnly bool) (*sessionPlan, error) {
	key := planKey{seq, lastOnly}
	s.tick++
	if sp := s.plans[key]; sp != nil {
		sp.used = s.tick
		return sp, nil
	}
	if len(s.plans) >= maxPlans {
		var oldest planKey
		first := true
		for k, sp := range s.plans {
			if first || sp.used < s.plans[oldest].used {
				oldest, first = k, false
			}
		}
		s.drop(oldest)
	}
	pl, err := s.m.prog.Plan(s.state.Batch, seq, s.state.Cap, lastOnly)
	if err != nil {
		return nil, err
	}
	arena, err := s.m.rt.dev.Alloc(max(pl.ArenaBytes, 256))
	if err != nil {
		return nil, fmt.Errorf("activation arena (%d bytes): %w", pl.ArenaBytes, err)
	}
	sp := &sessionPlan{plan: pl, arena: arena, used: s.tick}
	s.plans[key] = sp
	return sp, nil
}

func (s *Session) drop(k planKey) {
	sp := s.plans[k]
	s.m.rt.dev.Release(sp.plan)
	s.m.rt.dev.Free(sp.arena)
	delete(s.plans, k)
}

// ErrSessionFull is wrapped when a step would overflow the KV cache.
var ErrSessionFull = errors.New("KV cache capacity exceeded")

// Forward implements backend.Session.
func (s *Session) Forward(ctx context.Context, step backend.Step) (*backend.Logits, error) {
	if s.closed {
		return nil, errors.New("session is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(s.m.prog.Layers) == 0 && s.state.Past > 0 {
		return nil, fmt.Errorf("%w: this graph holds no KV cache (no KVCacheAttention), so a session runs one forward only", backend.ErrUnsupported)
	}
	start := time.Now()
	io, seq, err := s.state.Prepare(step, s.m.prog.EmbedRows)
	if err != nil {
		return nil, err
	}
	sp, err := s.plan(seq, !step.AllLogits)
	if err != nil {
		return nil, err
	}
	dev := s.m.rt.dev
	if err := dev.Upload(s.io, 0, io); err != nil {
		return nil, err
	}
	b := &Bindings{Weights: s.m.weights, Arena: sp.arena, K: s.k, V: s.v, IO: s.io, Dummy: s.m.dummy}
	if err := dev.Run(sp.plan, b); err != nil {
		return nil, err
	}
	pl := sp.plan
	raw := make([]byte, pl.LogitRows*pl.Vocab*4)
	if err := dev.Download(raw, sp.arena, pl.Logits.Offset); err != nil {
		return nil, err
	}
	s.state.Commit(seq)
	out := &backend.Logits{Batch: s.state.Batch, Positions: pl.LogitRows / s.state.Batch, Vocab: pl.Vocab, Data: make([]float32, pl.LogitRows*pl.Vocab)}
	for i := range out.Data {
		out.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	s.m.mu.Lock()
	s.m.calls++
	s.m.millis += float64(time.Since(start).Microseconds()) / 1000
	s.m.mu.Unlock()
	return out, nil
}

// Close implements backend.Session.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for k := range s.plans {
		s.drop(k)
	}
	dev := s.m.rt.dev
	for _, b := range append(s.k, s.v...) {
		dev.Free(b)
	}
	if s.io != nil {
		dev.Free(s.io)
	}
	s.m.mu.Lock()
	s.m.kvBytes -= s.kvBytes
	s.m.mu.Unlock()
	return nil
}
