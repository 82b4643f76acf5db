package cuda

import (
	"context"
	"fmt"
	"github.com/graphpass/graphpass/generate/sample"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
)

// DecodeProfile is where one decode step's time goes (ProfileDecode).
type DecodeProfile struct {
	Dispatches  int     `json:"dispatches"`    // kernels a decode step launches
	PrefillTokS float64 `json:"prefill_tok_s"` // a warm prefill of the prompt
	// Per decode step (medians): Forward returning logits plus the host
	// argmax over them; ForwardGreedy (the argmax on the device, ids
	// back); the GPU time of a greedy step (events around its work).
	LogitsMs   float64 `json:"logits_ms_per_token"`
	GreedyMs   float64 `json:"greedy_ms_per_token"`
	GPUMs      float64 `json:"gpu_ms_per_step"`
	HostArgmax float64 `json:"host_argmax_ms"`
	// Host time per greedy step in the device layer's calls (means).
	UploadMs, RunMs, DownloadMs float64
	WeightBytes                 int64   `json:"weight_bytes"`
	AvgContext                  float64 `json:"avg_context"`
	// Kernels: per kernel (LM-head and per-projection products apart), the
	// GPU time in a step, queued back to back, and alone in a graph of
	// copies; EmptyKernelUs is a graph node's floor.
	Kernels       []KernelTime `json:"kernels"`
	QueuedSumMs   float64      `json:"queued_sum_ms"`
	EmptyKernelUs float64      `json:"empty_kernel_us"`
}

// KernelTime is one kernel's share of a decode step.
type KernelTime struct {
	Kernel   string  `json:"kernel"`
	Count    int     `json:"count"`
	QueuedMs float64 `json:"queued_ms"` // all Count launches
	AloneMs  float64 `json:"alone_ms"`  // all Count launches, each alone
	Grid     [3]int  `json:"grid"`
	Threads  int     `json:"threads"`
}

// timedDevice times the host side of the device layer's calls.
type timedDevice struct {
	*Device
	upload, run, download time.Duration
}

func (t *timedDevice) Upload(dst gpu.Buffer, off int64, data []byte) error {
	s := time.Now()
	err := t.Device.Upload(dst, off, data)
	t.upload += time.Since(s)
	return err
}

func (t *timedDevice) Run(p *gpu.Plan, b *gpu.Bindings) error {
	s := time.Now()
	err := t.Device.Run(p, b)
	t.run += time.Since(s)
	return err
}

func (t *timedDevice) Download(dst []byte, src gpu.Buffer, off int64) error {
	s := time.Now()
	err := t.Device.Download(dst, src, off)
	t.download += time.Since(s)
	return err
}

// ProfileDecode loads g (a rewritten decoder) on d, prefills prompt random
// tokens in batch 1, decodes steps tokens twice — from logits with a host
// argmax and greedily on the device — and checks that both pick the same
// ids. It returns the rates, the GPU and host time of a step, and every
// kernel's time in a decode step. The plans follow GRAPHPASS_GPU_FUSE as
// at any Load; PDL is as d has it (SetPDL).
func ProfileDecode(ctx context.Context, d *Device, g *graph.Graph, prompt, steps int) (*DecodeProfile, error) {
	if err := d.EnableRunTiming(); err != nil {
		return nil, err
	}
	td := &timedDevice{Device: d}
	rt := gpu.NewRuntime(td, d.CompileMillis())
	m, err := rt.Load(ctx, g, backend.LoadOptions{})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	pr := &DecodeProfile{WeightBytes: m.Stats().WeightBytes}
	vocab := m.(*gpu.Model).Program().Vocab
	if e := m.(*gpu.Model).Program().EmbedRows; e > 0 && e < vocab {
		vocab = e
	}
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]int32, prompt)
	for i := range ids {
		ids[i] = int32(r.IntN(vocab))
	}
	maxSeq := prompt + steps + 8
	newSession := func() (*gpu.Session, error) {
		s, err := m.NewSession(ctx, backend.SessionOptions{Batch: 1, MaxSeq: maxSeq})
		if err != nil {
			return nil, err
		}
		return s.(*gpu.Session), nil
	}
	// A warm-up prefill (plans, first launches), then the timed one in
	// session a, which decodes from logits; session b decodes greedily.
	var a *gpu.Session
	var lg *backend.Logits
	for rep := 0; rep < 2; rep++ {
		s, err := newSession()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		l, err := s.Forward(ctx, backend.Step{Tokens: [][]int32{ids}})
		if err != nil {
			s.Close()
			return nil, err
		}
		pr.PrefillTokS = float64(prompt) / time.Since(t0).Seconds()
		if rep == 0 {
			s.Close()
			continue
		}
		a, lg = s, l
	}
	defer a.Close()
	b, err := newSession()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	gid, err := b.ForwardGreedy(ctx, backend.Step{Tokens: [][]int32{ids}})
	if err != nil {
		return nil, err
	}
	var logitTimes, greedyTimes, argTimes, gpuTimes []float64 // ms
	var up, run, down time.Duration
	ctxSum := 0
	for k := 0; k < steps; k++ {
		t0 := time.Now()
		next := sample.Argmax(lg.Row(0, lg.Positions-1))
		at := time.Since(t0)
		argTimes = append(argTimes, ms(at))
		if next != gid[0] {
			return nil, fmt.Errorf("decode step %d: device greedy id %d, host argmax of the logits %d", k, gid[0], next)
		}
		t0 = time.Now()
		if lg, err = a.Forward(ctx, backend.Step{Tokens: [][]int32{{next}}}); err != nil {
			return nil, err
		}
		logitTimes = append(logitTimes, ms(time.Since(t0)+at))
		u0, r0, d0 := td.upload, td.run, td.download
		t0 = time.Now()
		if gid, err = b.ForwardGreedy(ctx, backend.Step{Tokens: [][]int32{{gid[0]}}}); err != nil {
			return nil, err
		}
		greedyTimes = append(greedyTimes, ms(time.Since(t0)))
		up, run, down = up+td.upload-u0, run+td.run-r0, down+td.download-d0
		gms, err := d.LastRunMillis()
		if err != nil {
			return nil, err
		}
		gpuTimes = append(gpuTimes, gms)
		ctxSum += prompt + k + 1
	}
	pr.LogitsMs = median(logitTimes[1:])
	pr.GreedyMs = median(greedyTimes[1:])
	pr.GPUMs = median(gpuTimes[1:])
	pr.HostArgmax = median(argTimes)
	pr.UploadMs, pr.RunMs, pr.DownloadMs = ms(up)/float64(steps), ms(run)/float64(steps), ms(down)/float64(steps)
	pr.AvgContext = float64(ctxSum) / float64(steps)

	plan, bind, err := b.Bound(1, true)
	if err != nil {
		return nil, err
	}
	pr.Dispatches = len(plan.Dispatches)
	queued, err := d.ProfileQueued(plan, bind, 3)
	if err != nil {
		return nil, fmt.Errorf("queued profile: %w", err)
	}
	alone, err := d.ProfileRepeat(plan, bind, 8)
	if err != nil {
		return nil, fmt.Errorf("repeat profile: %w", err)
	}
	var np gpu.Params
	np.N[0], np.N[1], np.N[2], np.N[4] = 1, 1, 1, 1
	empty := &gpu.Plan{Dispatches: []gpu.Dispatch{{Kernel: "gp_copy2d", Grid: [3]int{1, 1, 1}, Threads: 32, Node: "empty",
		Args: []gpu.Buf{{Region: gpu.RegionArena}, {Region: gpu.RegionArena, Offset: 256}}, Params: np}}}
	if et, err := d.ProfileRepeat(empty, bind, 64); err == nil {
		pr.EmptyKernelUs = 1000 * et[0]
	}
	byName := map[string]*KernelTime{}
	for i := range queued {
		disp := &plan.Dispatches[i]
		k := kernelLabel(disp)
		kt := byName[k]
		if kt == nil {
			kt = &KernelTime{Kernel: k, Grid: disp.Grid, Threads: disp.Threads}
			byName[k] = kt
		}
		kt.Count++
		kt.QueuedMs += queued[i]
		kt.AloneMs += alone[i]
		pr.QueuedSumMs += queued[i]
	}
	for _, kt := range byName {
		pr.Kernels = append(pr.Kernels, *kt)
	}
	sort.Slice(pr.Kernels, func(i, j int) bool { return pr.Kernels[i].QueuedMs > pr.Kernels[j].QueuedMs })
	return pr, nil
}

// kernelLabel names a dispatch's kernel, with the projection it computes
// for products (q_proj, gate_proj, lm_head, ...).
func kernelLabel(d *gpu.Dispatch) string {
	k := d.Kernel
	if !strings.Contains(k, "mv") && !strings.Contains(k, "matvec") && !strings.Contains(k, "argmax") {
		return k
	}
	node := d.Node
	if i := strings.IndexByte(node, '/'); i >= 0 {
		node = node[:i]
	}
	if i := strings.LastIndexByte(node, '.'); i >= 0 {
		node = node[i+1:]
	}
	return k + "(" + node + ")"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
