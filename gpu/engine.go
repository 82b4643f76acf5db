package gpu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"time"
	"unsafe"

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

// WeightMapper is a Device that can use a checkpoint weight in place —
// Metal wraps the page-aligned, memory-mapped file region in a no-copy
// buffer on unified memory — instead of allocating and uploading it.
type WeightMapper interface {
	// MapWeight returns a buffer holding w's device bytes, or ok == false
	// when w must be read and uploaded instead (wrong form, alignment).
	MapWeight(w *WeightSlot) (buf Buffer, ok bool, err error)
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

	bwOnce sync.Once
	bw     float64 // bytes per second
}

// BandwidthMeter is a Device that can measure its memory bandwidth: bytes
// read plus written per second by device-to-device copies of size bytes
// (median of iters).
type BandwidthMeter interface {
	CopyBandwidth(size int64, iters int) (float64, error)
}

// StatDeviceBandwidth is the Stats.Extra key of the device's measured
// memory bandwidth in bytes per second (device-to-device copies, bytes
// read plus written), the key package bench reads to compare a decode
// rate with what device memory allows.
const StatDeviceBandwidth = "memory_bandwidth_bytes_per_s"

// deviceBandwidth measures the device's bandwidth once (256 MiB copies,
// far beyond its caches); 0 when the device cannot.
func (r *Runtime) deviceBandwidth() float64 {
	r.bwOnce.Do(func() {
		if bm, ok := r.dev.(BandwidthMeter); ok {
			if bw, err := bm.CopyBandwidth(256<<20, 20); err == nil {
				r.bw = bw
			}
		}
	})
	return r.bw
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
		if wm, ok := r.dev.(WeightMapper); ok {
			buf, mapped, err := wm.MapWeight(w)
			if err != nil {
				m.Close()
				return nil, fmt.Errorf("weight %s: %w", w.Name, err)
			}
			if mapped {
				m.weights = append(m.weights, buf)
				m.weightBytes += w.Bytes() // file pages, not a device allocation
				continue
			}
		}
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

// Stats implements backend.Model. Extra holds the device's memory
// bandwidth (StatDeviceBandwidth), measured on the first call.
func (m *Model) Stats() backend.Stats {
	bw := m.rt.deviceBandwidth()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := backend.Stats{
		WeightBytes: m.weightBytes, DeviceBytes: m.deviceBytes + m.kvBytes, KVCacheBytes: m.kvBytes,
		CompileMillis: m.rt.compileMillis, ForwardCalls: m.calls, ForwardMillis: m.millis,
	}
	if bw > 0 {
		st.Extra = map[string]float64{StatDeviceBandwidth: bw}
	}
	return st
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
	greedy   bool
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

func (s *Session) plan(seq int, lastOnly, greedy bool) (*sessionPlan, error) {
	key := planKey{seq, lastOnly, greedy}
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
	var pl *Plan
	var err error
	if greedy {
		pl, err = s.m.prog.PlanGreedy(s.state.Batch, seq, s.state.Cap)
	} else {
		pl, err = s.m.prog.Plan(s.state.Batch, seq, s.state.Cap, lastOnly)
	}
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
	start := time.Now()
	sp, seq, err := s.run(ctx, step, !step.AllLogits, false)
	if err != nil {
		return nil, err
	}
	pl := sp.plan
	out := &backend.Logits{Batch: s.state.Batch, Positions: pl.LogitRows / s.state.Batch, Vocab: pl.Vocab, Data: make([]float32, pl.LogitRows*pl.Vocab)}
	if err := s.m.rt.dev.Download(f32Bytes(out.Data), sp.arena, pl.Logits.Offset); err != nil {
		return nil, err
	}
	if !littleEndian {
		for i, v := range out.Data {
			out.Data[i] = math.Float32frombits(bits.ReverseBytes32(math.Float32bits(v)))
		}
	}
	s.done(seq, start)
	return out, nil
}

// ForwardGreedy is Forward for greedy decoding: it appends step.Tokens and
// returns each row's most likely next token (the first on ties, as an
// argmax over Forward's last-position logits), picked on the device so
// only Batch ids are copied back instead of Batch × vocabulary logits.
func (s *Session) ForwardGreedy(ctx context.Context, step backend.Step) ([]int32, error) {
	start := time.Now()
	sp, seq, err := s.run(ctx, step, true, true)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 4*s.state.Batch)
	if err := s.m.rt.dev.Download(raw, sp.arena, sp.plan.IDs.Offset); err != nil {
		return nil, err
	}
	ids := make([]int32, s.state.Batch)
	for i := range ids {
		ids[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	s.done(seq, start)
	return ids, nil
}

// run uploads step's inputs and runs its plan; the caller downloads what
// it needs and then calls done.
func (s *Session) run(ctx context.Context, step backend.Step, lastOnly, greedy bool) (*sessionPlan, int, error) {
	if s.closed {
		return nil, 0, errors.New("session is closed")
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if len(s.m.prog.Layers) == 0 && s.state.Past > 0 {
		return nil, 0, fmt.Errorf("%w: this graph holds no KV cache (no KVCacheAttention), so a session runs one forward only", backend.ErrUnsupported)
	}
	io, seq, err := s.state.Prepare(step, s.m.prog.EmbedRows)
	if err != nil {
		return nil, 0, err
	}
	sp, err := s.plan(seq, lastOnly, greedy)
	if err != nil {
		return nil, 0, err
	}
	dev := s.m.rt.dev
	if err := dev.Upload(s.io, 0, io); err != nil {
		return nil, 0, err
	}
	b := &Bindings{Weights: s.m.weights, Arena: sp.arena, K: s.k, V: s.v, IO: s.io, Dummy: s.m.dummy}
	if err := dev.Run(sp.plan, b); err != nil {
		return nil, 0, err
	}
	return sp, seq, nil
}

func (s *Session) done(seq int, start time.Time) {
	s.state.Commit(seq)
	s.m.mu.Lock()
	s.m.calls++
	s.m.millis += float64(time.Since(start).Microseconds()) / 1000
	s.m.mu.Unlock()
}

// littleEndian: device buffers hold little-endian f32, which a
// little-endian host reads in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// f32Bytes views v's memory as bytes.
func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// Bound returns the plan and bindings a step of seq new tokens per row
// runs (greedy: the plan ForwardGreedy runs), making the plan if needed:
// for profilers that time a plan's dispatches on the device.
func (s *Session) Bound(seq int, greedy bool) (*Plan, *Bindings, error) {
	sp, err := s.plan(seq, true, greedy)
	if err != nil {
		return nil, nil, err
	}
	return sp.plan, &Bindings{Weights: s.m.weights, Arena: sp.arena, K: s.k, V: s.v, IO: s.io, Dummy: s.m.dummy}, nil
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
