package metal

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/gpu/gputest"
)

// The Metal binding contract, checked against the real kernel source and
// real launch plans without a Mac: every kernel's buffer arguments are
// [[buffer(0)]]..[[buffer(n-1)]], its Params block is [[buffer(n)]], and
// every plan dispatch of that kernel binds exactly n buffers (Run puts the
// Params at index len(Args)). The kernel signatures come from the source
// after the C preprocessor (clang -E; skipped without clang).

// mslParam is one kernel parameter: its type, name and attribute.
type mslParam struct {
	typ, name, attr string
	index           int // buffer index, or -1
}

type mslKernel struct {
	name   string
	params []mslParam
}

func preprocessMetal(t *testing.T) string {
	t.Helper()
	var cc string
	for _, c := range []string{"clang++-19", "clang++", "clang++-16", "clang++-15", "clang++-14"} {
		if p, err := exec.LookPath(c); err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("clang++ not installed: cannot preprocess the Metal source")
	}
	dir := t.TempDir()
	// An empty <metal_stdlib>: only the macros matter here.
	if err := os.WriteFile(filepath.Join(dir, "metal_stdlib"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "kernels.metal")
	if err := os.WriteFile(src, []byte(gpu.Source(gpu.Metal)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cc, "-E", "-P", "-x", "c++", "-I", dir, src).CombinedOutput()
	if err != nil {
		t.Fatalf("preprocessing the Metal source: %v\n%s", err, out)
	}
	return string(out)
}

var (
	kernelDecl = regexp.MustCompile(`\bkernel\s+void\s+(\w+)\s*\(`)
	paramAttr  = regexp.MustCompile(`\[\[\s*(\w+)\s*(?:\(\s*(\d+)\s*\))?\s*\]\]`)
)

// parseKernels returns every kernel declared in preprocessed MSL.
func parseKernels(src string) ([]mslKernel, error) {
	var ks []mslKernel
	for _, m := range kernelDecl.FindAllStringSubmatchIndex(src, -1) {
		name := src[m[2]:m[3]]
		depth, end := 1, -1
		for i := m[1]; i < len(src) && end < 0; i++ {
			switch src[i] {
			case '(':
				depth++
			case ')':
				if depth--; depth == 0 {
					end = i
				}
			}
		}
		if end < 0 {
			return nil, fmt.Errorf("kernel %s: unterminated parameter list", name)
		}
		k := mslKernel{name: name}
		for _, p := range strings.Split(src[m[1]:end], ",") {
			p = strings.Join(strings.Fields(p), " ")
			if p == "" {
				continue
			}
			a := paramAttr.FindStringSubmatch(p)
			if a == nil {
				return nil, fmt.Errorf("kernel %s: parameter %q has no attribute (a kernel parameter must be a buffer or a built-in)", name, p)
			}
			decl := strings.TrimSpace(strings.Replace(p, a[0], "", 1))
			cut := strings.LastIndexAny(decl, " *&")
			mp := mslParam{typ: strings.TrimSpace(decl[:cut+1]), name: decl[cut+1:], attr: a[1], index: -1}
			if a[1] == "buffer" {
				mp.index, _ = strconv.Atoi(a[2])
			}
			k.params = append(k.params, mp)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// builtinTypes are the types the MSL specification allows for each
// built-in kernel input attribute the source uses.
var builtinTypes = map[string][]string{
	"threadgroup_position_in_grid":   {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"threadgroups_per_grid":          {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"threads_per_threadgroup":        {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"thread_position_in_grid":        {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"threads_per_grid":               {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"thread_position_in_threadgroup": {"ushort", "ushort2", "ushort3", "uint", "uint2", "uint3"},
	"thread_index_in_threadgroup":    {"ushort", "uint"},
	"thread_index_in_simdgroup":      {"ushort", "uint"},
	"simdgroup_index_in_threadgroup": {"ushort", "uint"},
	"threads_per_simdgroup":          {"ushort", "uint"},
}

// gridShaped must agree in component count when they are vectors (MSL
// specification, notes on kernel function attributes).
var gridShaped = []string{"thread_position_in_grid", "threads_per_grid", "thread_position_in_threadgroup",
	"threads_per_threadgroup", "threadgroup_position_in_grid", "threadgroups_per_grid"}

// bufferCounts checks every kernel's argument table and returns the number
// of buffer arguments before its Params block.
func bufferCounts(ks []mslKernel) (map[string]int, []error) {
	counts := map[string]int{}
	var errs []error
	bad := func(k, f string, a ...any) {
		errs = append(errs, fmt.Errorf("kernel %s: "+f, append([]any{k}, a...)...))
	}
	for _, k := range ks {
		if _, dup := counts[k.name]; dup {
			bad(k.name, "declared twice")
		}
		var bufs []mslParam
		width := ""
		for _, p := range k.params {
			if p.attr == "buffer" {
				bufs = append(bufs, p)
				continue
			}
			allowed, ok := builtinTypes[p.attr]
			if !ok {
				bad(k.name, "parameter %s: attribute [[%s]] is not one this check knows from the MSL specification", p.name, p.attr)
				continue
			}
			if !slices.Contains(allowed, p.typ) {
				bad(k.name, "parameter %s: [[%s]] cannot be %s (allowed: %v)", p.name, p.attr, p.typ, allowed)
			}
			if w := strings.TrimLeft(p.typ, "abcdefghijklmnopqrstuvwxyz"); w != "" && slices.Contains(gridShaped, p.attr) {
				if width == "" {
					width = w
				} else if w != width {
					bad(k.name, "grid-shaped built-ins mix %s- and %s-component vectors", width, w)
				}
			}
		}
		if len(bufs) == 0 {
			bad(k.name, "no buffer arguments")
			continue
		}
		for i, p := range bufs {
			if p.index != i {
				bad(k.name, "buffer argument %d (%s) is [[buffer(%d)]]: indices must run 0, 1, 2, ...", i, p.name, p.index)
			}
			last := i == len(bufs)-1
			switch {
			case last && p.typ != "constant Params&":
				bad(k.name, "the last buffer argument is %s %s, not the constant Params& block", p.typ, p.name)
			case !last && !strings.HasSuffix(p.typ, "*"):
				bad(k.name, "buffer argument %s is %s, not a pointer", p.name, p.typ)
			case !last && !strings.Contains(p.typ, "device "):
				bad(k.name, "buffer argument %s (%s) is not in the device address space", p.name, p.typ)
			}
		}
		counts[k.name] = len(bufs) - 1
	}
	return counts, errs
}

func TestMetalKernelSignatures(t *testing.T) {
	ks, err := parseKernels(preprocessMetal(t))
	if err != nil {
		t.Fatal(err)
	}
	counts, errs := bufferCounts(ks)
	for _, e := range errs {
		t.Error(e)
	}
	var declared []string
	for name := range counts {
		declared = append(declared, name)
	}
	sort.Strings(declared)
	want := gpu.KernelNames()
	sort.Strings(want)
	if !slices.Equal(declared, want) {
		t.Errorf("kernels in the source:\n%v\ngpu.KernelNames (the pipelines Open makes):\n%v", declared, want)
	}
}

// TestBindingCheckCatches feeds the signature check broken kernels.
func TestBindingCheckCatches(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"kernel void k(device float* y [[buffer(0)]], constant Params& p [[buffer(2)]], uint3 g [[threadgroup_position_in_grid]])", "indices must run"},
		{"kernel void k(device float* y [[buffer(0)]], device float* x [[buffer(1)]])", "not the constant Params& block"},
		{"kernel void k(float* y [[buffer(0)]], constant Params& p [[buffer(1)]])", "not in the device address space"},
		{"kernel void k(device float* y [[buffer(0)]], constant Params& p [[buffer(1)]], uint3 g [[threadgroup_position_in_grid]], uint2 s [[threads_per_threadgroup]])", "mix 3- and 2-component"},
		{"kernel void k(device float* y [[buffer(0)]], constant Params& p [[buffer(1)]], uint3 l [[thread_index_in_simdgroup]])", "cannot be uint3"},
		{"kernel void k(device float* y [[buffer(0)]], constant Params& p [[buffer(1)]], uint g)", "has no attribute"},
	} {
		ks, err := parseKernels(c.src)
		var msgs []string
		if err != nil {
			msgs = append(msgs, err.Error())
		} else {
			_, errs := bufferCounts(ks)
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
		}
		if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
			t.Errorf("%s\nreported %q, want %q", c.src, msgs, c.want)
		}
	}
}

// TestPlansMatchKernels builds the launch plans of every gputest case (the
// same graphs `pipeline selftest` runs) and prepares and encodes them as
// Run would, against buffers of the right sizes: each dispatch must bind
// the kernel's number of buffers, at aligned offsets inside them, with the
// Params block right after.
func TestPlansMatchKernels(t *testing.T) {
	ks, err := parseKernels(preprocessMetal(t))
	if err != nil {
		t.Fatal(err)
	}
	counts, errs := bufferCounts(ks)
	if len(errs) > 0 {
		t.Fatalf("kernel signatures: %v", errs)
	}
	kernels := map[string]kernel{}
	for i, name := range gpu.KernelNames() {
		kernels[name] = kernel{pipeline: uintptr(0x1000 + i), maxThreads: 1024}
	}
	used := map[string]bool{}
	id := uintptr(1)
	newBuf := func(size int64) *buffer { id++; return &buffer{id: id, size: size} }
	for _, c := range gputest.Cases() {
		prog, err := gpu.NewProgram("metal", c.Graph)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		capacity := c.MaxSeq
		if capacity <= 0 {
			capacity = 4096
		}
		b := &gpu.Bindings{Dummy: newBuf(256), IO: newBuf(gpu.IOLayout{Batch: c.Batch, Cap: capacity}.Bytes())}
		for i := range prog.Weights {
			b.Weights = append(b.Weights, newBuf(max(prog.Weights[i].Bytes(), 4)))
		}
		for _, l := range prog.Layers {
			b.K = append(b.K, newBuf(int64(c.Batch*l.KVHeads*capacity*l.HeadDim*4)))
			b.V = append(b.V, newBuf(int64(c.Batch*l.KVHeads*capacity*l.ValueDim*4)))
		}
		state := gpu.NewStepState(c.Batch, capacity)
		for si, st := range c.Steps {
			_, seq, err := state.Prepare(st, prog.EmbedRows)
			if err != nil {
				t.Fatalf("%s step %d: %v", c.Name, si, err)
			}
			plan, err := prog.Plan(c.Batch, seq, capacity, !st.AllLogits)
			if err != nil {
				t.Fatalf("%s step %d: %v", c.Name, si, err)
			}
			state.Commit(seq)
			b.Arena = newBuf(max(plan.ArenaBytes, 256))
			for di, d := range plan.Dispatches {
				used[d.Kernel] = true
				if n, ok := counts[d.Kernel]; !ok {
					t.Errorf("%s step %d dispatch %d: kernel %s is not in the Metal source", c.Name, si, di, d.Kernel)
				} else if len(d.Args) != n {
					t.Errorf("%s step %d dispatch %d (%s): %d buffers bound, the kernel takes %d before its Params", c.Name, si, di, d.Kernel, len(d.Args), n)
				}
			}
			cmds, err := prepare(plan, b, kernels, nil)
			if err != nil {
				t.Errorf("%s step %d: %v", c.Name, si, err)
				continue
			}
			for ci, cmd := range cmds {
				// encode puts the Params block at index nbuf (TestPrepareEncode).
				if cmd.nbuf != counts[plan.Dispatches[ci].Kernel] {
					t.Errorf("%s step %d dispatch %d: Params at index %d", c.Name, si, ci, cmd.nbuf)
				}
			}
		}
	}
	// Kernels no case reaches are checked only by their signatures.
	var unused []string
	for _, name := range gpu.KernelNames() {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	t.Logf("kernels dispatched by the gputest plans: %d of %d (not reached: %v)", len(used), len(gpu.KernelNames()), unused)
}
