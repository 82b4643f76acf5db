package passtest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/cpu"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// Dims binds symbolic dims ("batch", "seq", "past") to sizes for test inputs.
type Dims map[string]int64

// DefaultDims is a left-padded batch of two, three new tokens, two cached.
var DefaultDims = Dims{graph.DimBatch: 2, graph.DimSeq: 3, graph.DimPast: 2}

func (d Dims) shape(s graph.Shape) ([]int, error) {
	out := make([]int, len(s))
	for i, dim := range s {
		if dim.Static() {
			out[i] = int(dim.Size)
			continue
		}
		// Sums like "past+seq" are resolved term by term.
		total := int64(0)
		for _, term := range splitPlus(dim.Sym) {
			if n, err := strconv.ParseInt(term, 10, 64); err == nil {
				total += n
				continue
			}
			n, ok := d[term]
			if !ok {
				return nil, fmt.Errorf("no size for dim %q", term)
			}
			total += n
		}
		out[i] = int(total)
	}
	return out, nil
}

func splitPlus(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '+' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// Inputs makes deterministic inputs for g. Decoder inputs get their
// meaning (graph/decoder.go): input_ids below the vocabulary size,
// attention_mask with the last batch row left-padded by one for each
// cached and new position beyond the first token, position_ids =
// cumsum(mask)-1 (pads 1), use_cache_branch true; other float inputs are
// N(0, 1), other integers uniform in [0, 4).
func Inputs(g *graph.Graph, dims Dims, seed uint64) (map[string]*tensor.Tensor, error) {
	r := tensor.NewRand(seed)
	vocab := int64(16)
	if v, err := strconv.ParseInt(g.Metadata[graph.MetaVocabSize], 10, 64); err == nil && v > 0 {
		vocab = v
	}
	in := map[string]*tensor.Tensor{}
	var mask *tensor.Tensor
	for _, v := range g.Inputs {
		shape, err := dims.shape(v.Type.Shape)
		if err != nil {
			return nil, fmt.Errorf("input %s: %v", v.Name, err)
		}
		switch {
		case v.Name == graph.InputIDs:
			in[v.Name] = tensor.RandOf(r, v.Type.DType, 0, float64(vocab), shape...)
		case v.Name == graph.AttentionMask && len(shape) == 2:
			mask = tensor.New(v.Type.DType, shape...)
			for b := 0; b < shape[0]; b++ {
				pad := 0
				if b == shape[0]-1 && shape[0] > 1 {
					pad = shape[1] / 2 // the last row is left-padded
				}
				for j := 0; j < shape[1]; j++ {
					if j >= pad {
						mask.SetFloat64(b*shape[1]+j, 1)
					}
				}
			}
			in[v.Name] = mask
		case v.Name == graph.UseCacheBranch:
			t := tensor.New(v.Type.DType, shape...)
			for i := 0; i < t.Len(); i++ {
				t.SetFloat64(i, 1)
			}
			in[v.Name] = t
		case v.Type.DType.IsFloat():
			in[v.Name] = tensor.RandOf(r, v.Type.DType, -1, 1, shape...)
		case v.Name != graph.PositionIDs:
			in[v.Name] = tensor.RandOf(r, v.Type.DType, 0, 4, shape...)
		}
	}
	if v := g.Input(graph.PositionIDs); v != nil {
		shape, err := dims.shape(v.Type.Shape)
		if err != nil {
			return nil, err
		}
		pos := tensor.New(v.Type.DType, shape...)
		for b := 0; b < shape[0]; b++ {
			for s := 0; s < shape[1]; s++ {
				p := int64(s) + dims[graph.DimPast]
				if mask != nil {
					// cumsum(mask)-1 over the key positions up to this token; pads get 1.
					t := mask.Shape[1] - shape[1] + s
					sum := int64(0)
					for j := 0; j <= t; j++ {
						sum += mask.Int64At(b*mask.Shape[1] + j)
					}
					p = sum - 1
					if mask.Int64At(b*mask.Shape[1]+t) == 0 {
						p = 1
					}
				}
				pos.SetFloat64(b*shape[1]+s, float64(p))
			}
		}
		in[graph.PositionIDs] = pos
	}
	return in, nil
}

// Eval runs g on inputs with the CPU runtime.
func Eval(g *graph.Graph, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	p, err := cpu.Compile(g, cpu.Options{Threads: 1})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.Run(context.Background(), inputs)
}

// Equivalent evaluates before and after with the CPU runtime on the same
// deterministic inputs (Inputs with dims, several seeds) and fails the
// test unless every output after has agrees with before's output of the
// same name within tol (max |after-before| / max |before|). It returns the
// worst relative error it saw.
func Equivalent(t TB, before, after *graph.Graph, dims Dims, tol float64) float64 {
	t.Helper()
	worst := 0.0
	for seed := uint64(1); seed <= 3; seed++ {
		in, err := Inputs(before, dims, seed)
		if err != nil {
			t.Fatalf("inputs: %v", err)
		}
		want, err := Eval(before, in)
		if err != nil {
			t.Fatalf("evaluating the graph before the pass: %v", err)
		}
		afterIn := map[string]*tensor.Tensor{}
		for _, v := range after.Inputs {
			afterIn[v.Name] = in[v.Name]
		}
		got, err := Eval(after, afterIn)
		if err != nil {
			t.Fatalf("evaluating the graph after the pass: %v", err)
		}
		names := make([]string, 0, len(got))
		for name := range got {
			names = append(names, name)
		}
		sort.Strings(names)
		if len(names) == 0 {
			t.Fatalf("graph after the pass has no outputs")
		}
		for _, name := range names {
			ref, ok := want[name]
			if !ok {
				t.Fatalf("output %q after the pass did not exist before", name)
			}
			d, err := tensor.CompareTensors(got[name], ref)
			if err != nil {
				t.Fatalf("output %q: %v", name, err)
			}
			if d.Rel > tol || d.NaN {
				t.Errorf("output %q differs after the pass (seed %d): %v, tolerance %g", name, seed, d, tol)
			}
			if d.Rel > worst {
				worst = d.Rel
			}
		}
	}
	return worst
}

// EquivalentDecoding runs before and after as a generation loop on the
// CPU runtime (see CompareDecoding) and fails the test unless the logits
// agree within tol at every step. It returns the worst relative error.
func EquivalentDecoding(t TB, before, after *graph.Graph, prompt, steps int, tol float64) float64 {
	t.Helper()
	diffs, err := CompareDecoding(before, after, prompt, steps)
	if err != nil {
		t.Fatalf("%v", err)
	}
	worst := 0.0
	for step, d := range diffs {
		if d.Rel > tol || d.NaN {
			t.Errorf("step %d: logits differ after the pass: %v, tolerance %g", step, d, tol)
		}
		if d.Rel > worst {
			worst = d.Rel
		}
	}
	return worst
}

// CompareDecoding runs before and after as a generation loop on the CPU
// runtime: a prompt of prompt tokens for a batch of two (the second row
// left-padded), then steps single-token decode steps. Each graph threads
// its own present.<i>.* outputs back into its past_key_values.<i>.* inputs
// (which start empty); a graph without them keeps the cache in the
// runtime (KVCacheAttention). It returns, per step, how far after's logits
// are from before's (only where the mask is 1).
func CompareDecoding(before, after *graph.Graph, prompt, steps int) ([]tensor.Diff, error) {
	const batch = 2
	pb, err := cpu.Compile(before, cpu.Options{Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("compiling the graph before the pass: %v", err)
	}
	defer pb.Close()
	pa, err := cpu.Compile(after, cpu.Options{Threads: 1})
	if err != nil {
		return nil, fmt.Errorf("compiling the graph after the pass: %v", err)
	}
	defer pa.Close()
	vocab := int64(16)
	if v, err := strconv.ParseInt(before.Metadata[graph.MetaVocabSize], 10, 64); err == nil && v > 0 {
		vocab = v
	}
	r := tensor.NewRand(11)
	pad := prompt / 2
	var mask []int64 // row-major [batch, T] as it grows
	T := 0
	grow := func(n int) {
		next := make([]int64, 0, batch*(T+n))
		for b := 0; b < batch; b++ {
			next = append(next, mask[b*T:(b+1)*T]...)
			for j := 0; j < n; j++ {
				v := int64(1)
				if b == batch-1 && T+j < pad {
					v = 0
				}
				next = append(next, v)
			}
		}
		mask, T = next, T+n
	}
	pasts := func(g *graph.Graph) (map[string]*tensor.Tensor, error) {
		m := map[string]*tensor.Tensor{}
		for _, v := range g.Inputs {
			if strings.HasPrefix(v.Name, "past_key_values.") {
				shape, err := Dims{graph.DimBatch: batch, graph.DimPast: 0}.shape(v.Type.Shape)
				if err != nil {
					return nil, fmt.Errorf("input %s: %v", v.Name, err)
				}
				m[v.Name] = tensor.New(v.Type.DType, shape...)
			}
		}
		return m, nil
	}
	cacheB, err := pasts(before)
	if err != nil {
		return nil, err
	}
	cacheA, err := pasts(after)
	if err != nil {
		return nil, err
	}
	var diffs []tensor.Diff
	for step := 0; step <= steps; step++ {
		S := 1
		if step == 0 {
			S = prompt
		}
		grow(S)
		ids := tensor.RandOf(r, graph.I64, 0, float64(vocab), batch, S)
		am := tensor.New(graph.I64, batch, T)
		pos := tensor.New(graph.I64, batch, S)
		for b := 0; b < batch; b++ {
			sum := int64(0)
			for j := 0; j < T; j++ {
				am.SetFloat64(b*T+j, float64(mask[b*T+j]))
				sum += mask[b*T+j]
				if s := j - (T - S); s >= 0 {
					p := sum - 1
					if mask[b*T+j] == 0 {
						p = 1
					}
					pos.SetFloat64(b*S+s, float64(p))
				}
			}
		}
		ucb := tensor.New(graph.Bool, 1)
		ucb.SetFloat64(0, 1)
		run := func(which string, p *cpu.Program, g *graph.Graph, cache map[string]*tensor.Tensor) (*tensor.Tensor, error) {
			in := map[string]*tensor.Tensor{}
			for _, v := range g.Inputs {
				switch v.Name {
				case graph.InputIDs:
					in[v.Name] = ids
				case graph.AttentionMask:
					in[v.Name] = am
				case graph.PositionIDs:
					in[v.Name] = pos
				case graph.UseCacheBranch:
					in[v.Name] = ucb
				default:
					in[v.Name] = cache[v.Name]
				}
			}
			out, err := p.Run(context.Background(), in)
			if err != nil {
				return nil, fmt.Errorf("step %d of the graph %s the pass: %v", step, which, err)
			}
			for name := range cache {
				present := "present." + strings.TrimPrefix(name, "past_key_values.")
				if out[present] == nil {
					return nil, fmt.Errorf("the graph %s the pass has %s but no %s output", which, name, present)
				}
				cache[name] = out[present]
			}
			return out[graph.Logits], nil
		}
		want, err := run("before", pb, before, cacheB)
		if err != nil {
			return nil, err
		}
		got, err := run("after", pa, after, cacheA)
		if err != nil {
			return nil, err
		}
		// Compare rows of real tokens only.
		vs := want.Shape[2]
		var gw, ww []float32
		gf, wf := got.ToF32(), want.ToF32()
		for b := 0; b < batch; b++ {
			for s := 0; s < S; s++ {
				if mask[b*T+T-S+s] == 0 {
					continue
				}
				off := (b*S + s) * vs
				gw = append(gw, gf[off:off+vs]...)
				ww = append(ww, wf[off:off+vs]...)
			}
		}
		diffs = append(diffs, tensor.Compare(gw, ww))
	}
	return diffs, nil
}
