// Package bench measures end-to-end LLM decoding: a checkpoint (a real
// one, or a random-weight one in the exact shape of a known model, such as
// Qwen3-0.6B) goes through the pipeline's passes onto a runtime, then a
// prompt is prefilled and tokens are decoded greedily.
//
// Decoding one token reads every weight once, so it is bound by memory
// bandwidth. A Result therefore puts the decode rate next to the bytes of
// weights each token reads and the bandwidth measured in the same process
// with a streaming-read kernel (cpu.MeasureReadBandwidth), and reports the
// ratio as the bandwidth utilization. It also measures, in the same run,
// the fused pipeline against the unfused graph (no passes) and, for
// quantized runs, the bf16 model, so the ratios compare like with like on
// a machine whose speed may drift.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/model"
	"github.com/graphpass/graphpass/pipeline"
)

// DeviceBandwidthKey is the backend.Stats.Extra entry in which a runtime
// whose weights live in device memory (a GPU) reports that memory's
// bandwidth in bytes per second; bench then uses it instead of the host's.
// It is package gpu's key (gpu.StatDeviceBandwidth).
const DeviceBandwidthKey = gpu.StatDeviceBandwidth

// Options choose what to measure. The zero value (plus a model) works.
type Options struct {
	// Synthetic names a model.Synthetic config (e.g. "qwen3-0.6b"): a
	// random-weight checkpoint of that shape is written to WorkDir (once)
	// and loaded the normal way. Model is used instead when set.
	Synthetic string
	Model     string
	// Bits > 0 uses an MLX affine-quantized checkpoint (group 64) of the
	// synthetic config and also measures the unquantized one for the ratio.
	Bits int
	// Runtime is "inproc" (the CPU runtime in this process, default) or a
	// runtime plugin name or path (cpu, cuda, metal).
	Runtime string
	// Passes: nil runs the default pipeline; []string{"none"} no passes;
	// otherwise the named built-in passes in order.
	Passes []string
	// PromptTokens and NewTokens size the run (defaults 128 and 32).
	PromptTokens, NewTokens int
	// Threads for CPU runtimes (0: all cores).
	Threads int
	// SkipUnfused skips the unfused comparison run.
	SkipUnfused bool
	// WorkDir caches synthetic checkpoints ("" = the user cache dir).
	WorkDir string
	// BandwidthBytes is the buffer of the streaming-read measurement
	// (default: 512 MiB or four times the last-level cache, whichever is
	// larger; a 300 MiB L3 exists).
	BandwidthBytes int64
	// Seed for the synthetic weights and the prompt.
	Seed uint64
	// OpTimes reports where decode time goes, per op type
	// (Phase.DecodeOpMillis). It sets cpu.ProfileEnv for the
	// runtime Run starts (in this process or a plugin it launches), so
	// only CPU runtimes report it; timing each op costs two clock reads.
	OpTimes bool
	// Log receives progress lines; nil is silent.
	Log io.Writer
}

// Phase is one model measured: prefill and decode rates.
type Phase struct {
	Passes           []string `json:"passes"`
	Ops              int      `json:"graph_nodes"`
	LoadMillis       float64  `json:"load_ms"`
	PrefillMillis    float64  `json:"prefill_ms"` // a warm prefill (the second of two)
	PrefillTokPerSec float64  `json:"prefill_tok_per_s"`
	// DecodeMillis is the median time of a decode step (the first is a
	// warm-up and not counted); DecodeTokPerSec its inverse. The best
	// step is reported too: on a shared machine the median can carry
	// other processes' load.
	DecodeMillis     float64 `json:"decode_ms_per_token"`
	DecodeTokPerSec  float64 `json:"decode_tok_per_s"`
	DecodeBestMillis float64 `json:"decode_best_ms_per_token"`
	// WeightBytesPerToken is what one decode step reads of the weights:
	// every initializer, except that gathered tables (embeddings) count
	// only the rows read.
	WeightBytesPerToken int64 `json:"weight_bytes_per_token"`
	// KVBytesPerToken is the f32 key/value cache one decode step reads,
	// at the mean context length of the timed steps.
	KVBytesPerToken int64 `json:"kv_bytes_per_token"`
	// AchievedGBs is (weight + KV bytes per token) × decode rate.
	AchievedGBs float64 `json:"achieved_gb_per_s"`
	// BWUtilization is AchievedGBs (at the median step) over the measured
	// memory bandwidth.
	BWUtilization float64 `json:"bw_utilization"`
	// BestBWUtilization uses the best step instead of the median: both it
	// and the bandwidth are then best cases, the fairest comparison when
	// other processes share the cores.
	BestBWUtilization float64 `json:"bw_utilization_best_step"`
	// PairedBWUtilization is the median over the timed steps of each
	// step's rate over the bandwidth sample taken nearest it in time (see
	// Result.MemorySamples): on a host whose bandwidth changes during the
	// run it compares each step with the bandwidth it had, where
	// BWUtilization divides every step by the largest sample.
	PairedBWUtilization float64 `json:"bw_utilization_paired,omitempty"`
	// DecodePeakRSS is the process's peak resident set with this model
	// loaded, prefilled and decoding, before any comparison model is
	// loaded (Linux; mapped weight pages count as file-backed).
	DecodePeakRSS int64 `json:"decode_peak_rss_bytes,omitempty"`
	// RSSAnon and RSSFile split the resident set at that point: weights
	// are file-backed (mapped), activations, caches and the pass host's
	// memory anonymous.
	RSSAnon int64 `json:"rss_anon_bytes,omitempty"`
	RSSFile int64 `json:"rss_file_bytes,omitempty"`
	// DecodeOpMillis is, with Options.OpTimes, the mean time per timed
	// decode step spent in each op type ("QuantizedMatMul": 10.4). What
	// the steps took beyond the ops' sum is "(between ops)": scheduling,
	// allocation and the step's own bookkeeping.
	DecodeOpMillis map[string]float64 `json:"decode_op_ms_per_token,omitempty"`
}

// Result is what Run measured. Field names are the JSON output's.
type Result struct {
	Model        string  `json:"model"`
	Synthetic    bool    `json:"synthetic"`
	Params       int64   `json:"params"`
	DType        string  `json:"dtype"`
	Bits         int     `json:"bits,omitempty"`
	Runtime      string  `json:"runtime"`
	RuntimeKind  string  `json:"runtime_kind"`
	Device       string  `json:"device"`
	Threads      int     `json:"threads"`
	GoMaxProcs   int     `json:"gomaxprocs"`
	PromptTokens int     `json:"prompt_tokens"`
	NewTokens    int     `json:"new_tokens"`
	MemoryGBs    float64 `json:"memory_bandwidth_gb_per_s"`
	// MemorySamples are the streaming-read measurements: before loading,
	// then before the timed steps, every BandwidthEvery rounds of them and
	// after; MemoryGBs is the largest, so utilization is conservative.
	MemorySamples []float64 `json:"memory_bandwidth_samples_gb_per_s,omitempty"`
	LoadAverage   string    `json:"load_average,omitempty"` // /proc/loadavg at the end: other processes share the cores
	// LastLevelCache is the CPU's last-level cache in bytes (0: unknown).
	// When decode reads less than twice this per token, part of it stays
	// cached between tokens and bw_utilization overstates memory traffic
	// (a note says so).
	LastLevelCache int64          `json:"last_level_cache_bytes,omitempty"`
	Phase                         // the measured configuration
	PeakRSS        int64          `json:"peak_rss_bytes"` // with the measured model alone (see Phase.DecodePeakRSS)
	MappedBytes    int64          `json:"mapped_bytes"`
	Unfused        *Phase         `json:"unfused,omitempty"`
	FusedSpeedup   float64        `json:"fused_vs_unfused_decode,omitempty"`
	Unquantized    *Phase         `json:"bf16,omitempty"`
	QuantSpeedup   float64        `json:"quant_vs_bf16_decode,omitempty"`
	Notes          []string       `json:"notes,omitempty"`
	Extra          map[string]any `json:"extra,omitempty"`
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Run performs the measurements.
//
// Every configuration (the requested one, the unfused graph, the
// unquantized model) is loaded and prefilled, then their decode steps are
// interleaved, one step of each in turn, so the ratios between them hold
// even when other processes share the cores.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.PromptTokens <= 0 {
		o.PromptTokens = 128
	}
	if o.NewTokens <= 0 {
		o.NewTokens = 32
	}
	if o.NewTokens < 2 {
		return nil, fmt.Errorf("bench: new tokens %d: at least 2 are needed to time decoding", o.NewTokens)
	}
	if o.Runtime == "" {
		o.Runtime = pipeline.InprocName
	}
	llc := cpu.LastLevelCacheBytes()
	if o.BandwidthBytes <= 0 {
		o.BandwidthBytes = max(512<<20, 4*llc)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	res := &Result{Runtime: o.Runtime, GoMaxProcs: runtime.GOMAXPROCS(0), Threads: o.Threads,
		PromptTokens: o.PromptTokens, NewTokens: o.NewTokens, Bits: o.Bits, LastLevelCache: llc}
	if res.Threads == 0 {
		res.Threads = runtime.GOMAXPROCS(0)
	}

	dir, err := o.checkpoint(o.Bits)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(filepath.Join(dir, "config.json")); err != nil || st.IsDir() {
		return nil, fmt.Errorf("bench: %s is not a checkpoint directory (no config.json)", dir)
	}
	res.Model, res.Synthetic = dir, o.Model == ""
	if o.Synthetic != "" && o.Model == "" {
		res.Model = o.Synthetic
	}

	// Bandwidth first, then forget the buffer and the peak it caused, so
	// peak RSS below is the model's.
	o.logf("measuring memory bandwidth (%d MiB streaming read)", o.BandwidthBytes>>20)
	res.MemoryGBs = o.bandwidth()
	res.MemorySamples = []float64{res.MemoryGBs}
	resetPeakRSS()

	if o.OpTimes {
		os.Setenv(cpu.ProfileEnv, "1")
		defer os.Unsetenv(cpu.ProfileEnv)
	}
	rt, info, err := pipeline.OpenRuntime(ctx, pipeline.RuntimeSpec{Name: o.Runtime, Threads: o.Threads}, pipeline.Options{})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	res.Runtime, res.RuntimeKind, res.Device = info.Name, info.Kind, info.Device
	pid := os.Getpid()
	if info.PID != 0 {
		pid = info.PID
	}

	main, err := o.start(ctx, rt, dir, o.Passes, res)
	if err != nil {
		return nil, err
	}
	defer main.close()
	// Two steps alone, then the resident set of this model by itself.
	for k := 0; k < 2; k++ {
		if err := main.step(ctx, false); err != nil {
			return nil, err
		}
	}
	res.PeakRSS, main.phase.RSSAnon, main.phase.RSSFile = readRSS(pid)
	cpuMemory := res.RuntimeKind == "inproc" || res.Runtime == "cpu"
	if bw := main.model.Stats().Extra[DeviceBandwidthKey]; bw > 0 {
		res.MemoryGBs, res.MemorySamples, cpuMemory = bw/1e9, nil, false
		res.Notes = append(res.Notes, "memory bandwidth reported by the runtime ("+DeviceBandwidthKey+")")
	} else if !cpuMemory {
		res.MemoryGBs, res.MemorySamples = 0, nil
		res.Notes = append(res.Notes, "the runtime reports no device bandwidth ("+DeviceBandwidthKey+" in its stats), so no utilization is computed")
	}
	main.phase.DecodePeakRSS = res.PeakRSS
	if st := main.model.Stats(); st.MappedBytes > 0 {
		res.MappedBytes = st.MappedBytes
	}

	runners := []*runner{main}
	var unfused, unquant *runner
	if !o.SkipUnfused && !isNone(o.Passes) {
		unfused, err = o.start(ctx, rt, dir, []string{"none"}, nil)
		switch {
		case errors.Is(err, backend.ErrUnsupported):
			// GPU runtimes run rewritten graphs only.
			res.Notes = append(res.Notes, "no fused-vs-unfused comparison: "+err.Error())
		case err != nil:
			return nil, fmt.Errorf("unfused run: %w", err)
		default:
			defer unfused.close()
			runners = append(runners, unfused)
		}
	}
	if o.Bits > 0 && o.Synthetic != "" {
		bdir, err := o.checkpoint(0)
		if err != nil {
			return nil, err
		}
		if unquant, err = o.start(ctx, rt, bdir, o.Passes, nil); err != nil {
			return nil, fmt.Errorf("unquantized run: %w", err)
		}
		defer unquant.close()
		runners = append(runners, unquant)
	}
	// One untimed warm-up step each, then the timed, interleaved steps.
	for _, r := range runners[1:] {
		if err := r.step(ctx, false); err != nil {
			return nil, err
		}
	}
	o.logf("decoding %d tokens with %d configuration(s), interleaved", o.NewTokens, len(runners))
	for _, r := range runners {
		r.opsBefore = opTimes(r.model)
	}
	// Bandwidth samples between the rounds of steps, for the paired
	// utilization: the shared hosts this runs on change speed within a run.
	var paired []bwSample
	for k := 0; k < o.NewTokens; k++ {
		if cpuMemory && k%BandwidthEvery == 0 {
			paired = append(paired, bwSample{round: k, gbs: o.bandwidth()})
		}
		for _, r := range runners {
			if err := r.step(ctx, true); err != nil {
				return nil, err
			}
		}
	}
	for _, r := range runners {
		r.finish()
		if o.OpTimes {
			r.phase.DecodeOpMillis = r.opMillis()
			if r.phase.DecodeOpMillis == nil {
				res.Notes = appendOnce(res.Notes, "no op times: the runtime reports none (only CPU runtimes time their ops)")
			}
		}
		o.logf("  %s: prefill %.1f tok/s, decode %.2f tok/s (median %.1f ms/token)", r.label, r.phase.PrefillTokPerSec, r.phase.DecodeTokPerSec, r.phase.DecodeMillis)
	}
	if unfused != nil {
		res.Unfused = unfused.phase
		res.FusedSpeedup = main.phase.DecodeTokPerSec / unfused.phase.DecodeTokPerSec
	}
	if unquant != nil {
		res.Unquantized = unquant.phase
		res.QuantSpeedup = main.phase.DecodeTokPerSec / unquant.phase.DecodeTokPerSec
	}

	// Measure the bandwidth again after the runs and keep the best: on a
	// shared machine a single measurement may catch a busy moment.
	if cpuMemory {
		paired = append(paired, bwSample{round: o.NewTokens, gbs: o.bandwidth()})
		for _, b := range paired {
			res.MemorySamples = append(res.MemorySamples, b.gbs)
			res.MemoryGBs = max(res.MemoryGBs, b.gbs)
		}
		if lo := slices.Min(res.MemorySamples); lo > 0 && res.MemoryGBs/lo > 1.25 {
			res.Notes = append(res.Notes, fmt.Sprintf("the bandwidth samples range from %.1f to %.1f GB/s: the host changed speed during the run, "+
				"so bw_utilization (against the largest) understates the slow stretches; bw_utilization_paired compares each step with the sample nearest it", lo, res.MemoryGBs))
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.TrimSpace(string(la))
	}
	for _, r := range runners {
		p := r.phase
		if res.MemoryGBs > 0 {
			p.BWUtilization = p.AchievedGBs / res.MemoryGBs
			best := float64(p.WeightBytesPerToken+p.KVBytesPerToken) / (p.DecodeBestMillis / 1000) / 1e9
			p.BestBWUtilization = best / res.MemoryGBs
		}
		if cpuMemory {
			p.PairedBWUtilization = r.pairedUtilization(paired)
		}
	}
	res.Phase = *main.phase
	if perToken := res.WeightBytesPerToken + res.KVBytesPerToken; cpuMemory && llc > 0 && perToken < 2*llc {
		res.Notes = append(res.Notes, fmt.Sprintf("decode reads %d MiB per token, less than twice the %d MiB last-level cache: "+
			"part of it stays cached between tokens, so bw_utilization overstates memory traffic", perToken>>20, llc>>20))
	}
	return res, nil
}

// BandwidthEvery is how many rounds of timed steps (one step of each
// configuration) run between two bandwidth samples.
const BandwidthEvery = 8

// bwSample is a bandwidth measurement taken before round round of the
// timed steps (the number of rounds: after them).
type bwSample struct {
	round int
	gbs   float64
}

// pairedUtilization is the median over r's timed steps of each step's
// bytes per second over the sample nearest it (Phase.PairedBWUtilization).
func (r *runner) pairedUtilization(samples []bwSample) float64 {
	if len(samples) == 0 || len(r.times) == 0 {
		return 0
	}
	utils := make([]float64, len(r.times))
	for k, t := range r.times {
		near := samples[0]
		for _, s := range samples[1:] {
			if abs(s.round-k) < abs(near.round-k) {
				near = s
			}
		}
		bytes := float64(r.phase.WeightBytesPerToken + r.kvPerPosition*int64(r.contexts[k]))
		utils[k] = bytes / t.Seconds() / 1e9 / near.gbs
	}
	return median(utils)
}

// median sorts xs and returns its middle value, or the mean of the two
// middle ones for an even count.
func median[T ~int64 | ~float64](xs []T) T {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[n/2]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// bandwidth measures the streaming-read bandwidth in GB/s and gives the
// buffer back to the OS.
func (o *Options) bandwidth() float64 {
	bw := cpu.MeasureReadBandwidth(o.BandwidthBytes, o.Threads, 5) / 1e9
	debug.FreeOSMemory()
	return bw
}

func isNone(passes []string) bool { return len(passes) == 1 && passes[0] == "none" }

// checkpoint returns the directory to load: o.Model, or the synthetic
// checkpoint (quantized to bits when bits > 0), written once.
func (o *Options) checkpoint(bits int) (string, error) {
	if o.Model != "" {
		return o.Model, nil
	}
	if o.Synthetic == "" {
		return "", fmt.Errorf("bench: no model: give a checkpoint directory or a synthetic model name (%s)", strings.Join(model.SyntheticNames(), ", "))
	}
	cfg, err := model.Synthetic(o.Synthetic)
	if err != nil {
		return "", err
	}
	name := o.Synthetic
	if bits > 0 {
		cfg.Quantization = &model.Quantization{Bits: bits, GroupSize: 64}
		name += fmt.Sprintf("-%dbit", bits)
	}
	work := o.WorkDir
	if work == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		work = filepath.Join(base, "graphpass", "bench")
	}
	dir := filepath.Join(work, fmt.Sprintf("%s-seed%d", name, o.Seed))
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		return dir, nil
	}
	o.logf("writing synthetic checkpoint %s", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := model.WriteSynthetic(tmp, cfg, o.Seed); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// runner is one configuration being measured: a loaded model and its
// decoding session.
type runner struct {
	label string
	phase *Phase
	prep  *pipeline.Prepared
	model backend.Model
	sess  backend.Session
	next  int32 // the greedy token the last step chose
	times []time.Duration
	// opsBefore is the runtime's per-op time before the timed steps
	// (Options.OpTimes).
	opsBefore map[string]float64
	// context lengths of the timed steps, and KV bytes per cached position
	contexts      []int
	kvPerPosition int64
	length        int
}

// start prepares the checkpoint with passes, loads it on rt and prefills a
// random prompt.
func (o *Options) start(ctx context.Context, rt backend.Runtime, dir string, passes []string, res *Result) (*runner, error) {
	spec := pipeline.Default()
	spec.Model = dir
	spec.Runtime = pipeline.RuntimeSpec{Name: o.Runtime, Threads: o.Threads}
	switch {
	case passes == nil:
	case isNone(passes):
		spec.Passes = nil
	default:
		spec.Passes = nil
		for _, p := range passes {
			spec.Passes = append(spec.Passes, pipeline.PassSpec{Name: p})
		}
	}
	label := filepath.Base(dir) + " (default passes)"
	if passes != nil {
		label = filepath.Base(dir) + " (" + strings.Join(passes, ",") + ")"
	}
	o.logf("preparing %s", label)
	prep, err := pipeline.Prepare(ctx, spec, pipeline.Options{})
	if err != nil {
		return nil, err
	}
	if err := rt.Capabilities().Check(prep.Graph); err != nil {
		prep.Close()
		return nil, err
	}
	r := &runner{label: label, prep: prep, phase: &Phase{Ops: prep.Graph.NumNodes(), Passes: []string{}}}
	for _, p := range prep.Passes {
		r.phase.Passes = append(r.phase.Passes, p.Name)
	}
	if res != nil {
		res.Params, _ = strconv.ParseInt(prep.Graph.Metadata[model.MetaNumParams], 10, 64)
		res.DType = prep.Graph.Metadata[model.MetaDType]
	}
	r.phase.WeightBytesPerToken = weightBytesPerToken(prep.Graph)
	r.kvPerPosition = KVBytesPerPosition(prep.Graph)
	// The pass host's garbage must not be collected while decoding is timed.
	runtime.GC()
	debug.FreeOSMemory()

	t0 := time.Now()
	if r.model, _, err = prep.Load(ctx, rt); err != nil {
		prep.Close()
		return nil, err
	}
	r.phase.LoadMillis = ms(time.Since(t0))
	vocab, _ := strconv.Atoi(prep.Graph.Metadata[graph.MetaVocabSize])
	if vocab <= 0 {
		vocab = 1000
	}
	prompt := make([]int32, o.PromptTokens)
	x := o.Seed
	for i := range prompt {
		x = x*6364136223846793005 + 1442695040888963407
		prompt[i] = int32((x >> 33) % uint64(vocab))
	}
	// A first, untimed prefill pages the weights in and fills the buffer
	// pools; the timed one runs warm, in the session that then decodes.
	o.logf("  prefill %d tokens (twice: warm-up, timed)", o.PromptTokens)
	for rep := 0; rep < 2; rep++ {
		if r.sess != nil {
			r.sess.Close()
		}
		if r.sess, err = r.model.NewSession(ctx, backend.SessionOptions{Batch: 1, MaxSeq: o.PromptTokens + o.NewTokens + 4}); err != nil {
			r.close()
			return nil, err
		}
		t0 = time.Now()
		ids, err := backend.Greedy(ctx, r.sess, backend.Step{Tokens: [][]int32{prompt}})
		if err != nil {
			r.close()
			return nil, err
		}
		r.next = ids[0]
	}
	pre := time.Since(t0)
	r.length = o.PromptTokens
	r.phase.PrefillMillis = ms(pre)
	r.phase.PrefillTokPerSec = float64(o.PromptTokens) / pre.Seconds()
	return r, nil
}

// step decodes the greedy next token, timing it when timed. The step is
// what a greedy generation costs: the runtime picks the token (a GPU
// runtime on the device, a plugin inside its process; else the argmax runs
// here over the logits) and only its id is needed.
func (r *runner) step(ctx context.Context, timed bool) error {
	t := time.Now()
	ids, err := backend.Greedy(ctx, r.sess, backend.Step{Tokens: [][]int32{{r.next}}})
	if err != nil {
		return fmt.Errorf("%s: %w", r.label, err)
	}
	if timed {
		r.times = append(r.times, time.Since(t))
		r.contexts = append(r.contexts, r.length+1)
	}
	r.length++
	r.next = ids[0]
	return nil
}

// finish turns the step times into rates.
func (r *runner) finish() {
	times := append([]time.Duration(nil), r.times...)
	med := median(times) // sorts times: times[0] is the best step
	ph := r.phase
	ph.DecodeMillis = ms(med)
	ph.DecodeBestMillis = ms(times[0])
	ph.DecodeTokPerSec = 1 / med.Seconds()
	var ctxSum int
	for _, c := range r.contexts {
		ctxSum += c
	}
	ph.KVBytesPerToken = r.kvPerPosition * int64(ctxSum) / int64(max(len(r.contexts), 1))
	ph.AchievedGBs = float64(ph.WeightBytesPerToken+ph.KVBytesPerToken) * ph.DecodeTokPerSec / 1e9
}

// opTimes returns the model's cumulative milliseconds per op type, from
// the CPU runtime's cpu.OpTimeStat stats.
func opTimes(m backend.Model) map[string]float64 {
	ops := map[string]float64{}
	for k, v := range m.Stats().Extra {
		if op, ok := strings.CutPrefix(k, cpu.OpTimeStat); ok {
			ops[op] = v
		}
	}
	return ops
}

// opMillis is the time per timed step spent in each op type, and the rest
// of the steps' time as "(between ops)"; nil if the runtime timed no ops.
func (r *runner) opMillis() map[string]float64 {
	after := opTimes(r.model)
	if len(after) == 0 {
		return nil
	}
	n := float64(len(r.times))
	var total time.Duration
	for _, t := range r.times {
		total += t
	}
	out := map[string]float64{}
	sum := 0.0
	for op, v := range after {
		if d := (v - r.opsBefore[op]) / n; d != 0 {
			out[op] = d
			sum += d
		}
	}
	out["(between ops)"] = ms(total)/n - sum
	return out
}

func appendOnce(notes []string, note string) []string {
	if slices.Contains(notes, note) {
		return notes
	}
	return append(notes, note)
}

func (r *runner) close() {
	if r.sess != nil {
		r.sess.Close()
	}
	if r.model != nil {
		r.model.Close()
	}
	r.prep.Close()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// KVBytesPerPosition is the f32 key and value cache of one position over
// all layers, from the graph's metadata (0 when it does not say): the KV
// bytes a decode step reads per cached position.
func KVBytesPerPosition(g *graph.Graph) int64 {
	get := func(k string) int64 { v, _ := strconv.ParseInt(g.Metadata[k], 10, 64); return v }
	heads := get(model.MetaKVCacheHeads)
	if heads == 0 {
		heads = get(graph.MetaNumKVHeads)
	}
	return 2 * get(graph.MetaNumLayers) * heads * get(graph.MetaHeadDim) * 4
}

// weightBytesPerToken sums the initializers one decode step reads: all of
// them, except that a table read only by Gather/QuantizedGather (an
// embedding) costs one row per token.
func weightBytesPerToken(g *graph.Graph) int64 {
	ix := graph.NewIndex(g)
	var total int64
	for _, in := range g.Initializers {
		size := in.Type.ByteSize()
		users := ix.Consumers(in.Name)
		gathered := len(users) > 0
		for _, u := range users {
			isTable := (u.Op == "Gather" && u.Input(0) == in.Name) ||
				(u.Op == "QuantizedGather" && (u.Input(0) == in.Name || u.Input(1) == in.Name || u.Input(2) == in.Name))
			if !isTable {
				gathered = false
			}
		}
		if gathered && in.Type.Shape.Rank() > 0 && in.Type.Shape[0].Size > 0 {
			size /= in.Type.Shape[0].Size
		}
		total += size
	}
	return total
}
