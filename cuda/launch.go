package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
)

// launchSet is a plan resolved against its bindings: every dispatch's
// function, dimensions and argument block, ready for cuLaunchKernel, plus
// the CUDA graph captured from it.
type launchSet struct {
	sig      [6]devPtr
	launches []launch
	runs     int
	graph    cuGraph
	exec     cuGraphExe
}

type launch struct {
	fn         cuFunction
	grid       [3]uint32
	threads    uint32
	params     []unsafe.Pointer // cuLaunchKernel's kernelParams
	vals       []uint64         // buffer addresses the params point at
	block      [gpu.ParamsSize]byte
	kernel     string
	node       string
	dispatchNo int
}

func ptrOf(b gpu.Buffer) devPtr {
	if bb, ok := b.(*buffer); ok {
		return bb.ptr
	}
	return 0
}

func signature(b *gpu.Bindings) [6]devPtr {
	s := [6]devPtr{ptrOf(b.Arena), ptrOf(b.IO), ptrOf(b.Dummy)}
	if len(b.K) > 0 {
		s[3], s[4] = ptrOf(b.K[0]), ptrOf(b.V[len(b.V)-1])
	}
	if len(b.Weights) > 0 {
		s[5] = ptrOf(b.Weights[0])
	}
	return s
}

func (d *Device) resolve(plan *gpu.Plan, b *gpu.Bindings) (*launchSet, error) {
	ls := &launchSet{sig: signature(b)}
	for i := range plan.Dispatches {
		disp := &plan.Dispatches[i]
		fn, ok := d.fns[disp.Kernel]
		if !ok {
			return nil, fmt.Errorf("cuda: no kernel %s", disp.Kernel)
		}
		l := launch{fn: fn, threads: uint32(disp.Threads), kernel: disp.Kernel, node: disp.Node, dispatchNo: i}
		for j := range 3 {
			l.grid[j] = uint32(max(disp.Grid[j], 1))
		}
		l.vals = make([]uint64, len(disp.Args))
		for j, ref := range disp.Args {
			buf, off := b.Resolve(ref)
			p := ptrOf(buf)
			if p == 0 {
				return nil, fmt.Errorf("cuda: dispatch %d (%s, node %s): argument %d (%s) has no buffer", i, disp.Kernel, disp.Node, j, ref)
			}
			if off < 0 || off > buf.Size() {
				return nil, fmt.Errorf("cuda: dispatch %d (%s, node %s): argument %d offset %d outside %d bytes", i, disp.Kernel, disp.Node, j, off, buf.Size())
			}
			l.vals[j] = uint64(p) + uint64(off)
		}
		disp.Params.Put(l.block[:])
		ls.launches = append(ls.launches, l)
	}
	// Pointers into the launches' own slices, taken once they stop moving.
	for i := range ls.launches {
		l := &ls.launches[i]
		l.params = make([]unsafe.Pointer, len(l.vals)+1)
		for j := range l.vals {
			l.params[j] = unsafe.Pointer(&l.vals[j])
		}
		l.params[len(l.vals)] = unsafe.Pointer(&l.block[0])
	}
	return ls, nil
}

func (ls *launchSet) destroy(a *api) {
	if ls.exec != 0 {
		a.cuGraphExecDestroy(ls.exec)
		ls.exec = 0
	}
	if ls.graph != 0 {
		a.cuGraphDestroy(ls.graph)
		ls.graph = 0
	}
}

// launchKernel queues launch l on the stream, with programmatic dependent
// launch when pdl is set.
func (d *Device) launchKernel(l *launch, pdl bool) cuResult {
	if pdl {
		cfg := launchConfig{gridX: l.grid[0], gridY: l.grid[1], gridZ: l.grid[2], blockX: l.threads, blockY: 1, blockZ: 1, sharedMem: 0,
			stream: d.stream, attrs: &d.pdlAttr, numAttrs: 1}
		return d.a.cuLaunchKernelEx(&cfg, l.fn, unsafe.Pointer(&l.params[0]), nil)
	}
	return d.a.cuLaunchKernel(l.fn, l.grid[0], l.grid[1], l.grid[2], l.threads, 1, 1, 0, d.stream, unsafe.Pointer(&l.params[0]), nil)
}

// launchAll launches every dispatch in order. With programmatic dependent
// launch each kernel after the first may start while its predecessor
// runs: it loads its weights, then waits in griddepcontrol.wait
// (GRID_DEP_WAIT in the kernel source) for the predecessor's results.
func (d *Device) launchAll(ls *launchSet) error {
	a := d.a
	for i := range ls.launches {
		l := &ls.launches[i]
		if err := a.check("cuLaunchKernel", d.launchKernel(l, d.pdl && i > 0)); err != nil {
			return fmt.Errorf("dispatch %d (%s, node %s, grid %v, %d threads): %w", l.dispatchNo, l.kernel, l.node, l.grid, l.threads, err)
		}
	}
	return nil
}

// Run implements gpu.Device: the first run of a plan launches its
// dispatches one by one; from the second run on (decode steps repeat the
// same plan) it replays a CUDA graph captured from them.
func (d *Device) Run(plan *gpu.Plan, b *gpu.Bindings) error {
	defer d.enter()()
	a := d.a
	ls := d.cached[plan]
	if ls != nil && ls.sig != signature(b) {
		a.cuStreamSynchronize(d.stream)
		ls.destroy(a)
		ls = nil
	}
	if ls == nil {
		var err error
		if ls, err = d.resolve(plan, b); err != nil {
			return err
		}
		d.cached[plan] = ls
	}
	ls.runs++
	if d.timing {
		if err := a.check("cuEventRecord", a.cuEventRecord(d.ev0, d.stream)); err != nil {
			return err
		}
		defer func() {
			a.cuEventRecord(d.ev1, d.stream)
			d.timedRuns = true
		}()
	}
	if d.noGraphs || ls.runs < 2 {
		return d.launchAll(ls)
	}
	if ls.exec == 0 {
		if err := a.check("cuStreamBeginCapture", a.cuStreamBeginCapture(d.stream, captureModeThreadLocal)); err != nil {
			return err
		}
		lerr := d.launchAll(ls)
		var g cuGraph
		eerr := a.check("cuStreamEndCapture", a.cuStreamEndCapture(d.stream, &g))
		if lerr != nil {
			if g != 0 {
				a.cuGraphDestroy(g)
			}
			return lerr
		}
		if eerr != nil {
			return eerr
		}
		ls.graph = g
		if err := a.check("cuGraphInstantiate", a.cuGraphInstantiate(&ls.exec, g, 0)); err != nil {
			return err
		}
	}
	return a.check("cuGraphLaunch", a.cuGraphLaunch(ls.exec, d.stream))
}

// Release implements gpu.Device.
func (d *Device) Release(plan *gpu.Plan) {
	defer d.enter()()
	if ls := d.cached[plan]; ls != nil {
		d.a.cuStreamSynchronize(d.stream)
		ls.destroy(d.a)
		delete(d.cached, plan)
	}
}

// CopyBandwidth measures device memory bandwidth with device-to-device
// copies of a buffer of size bytes, counting bytes read plus written, in
// bytes per second (median of iters timed copies).
func (d *Device) CopyBandwidth(size int64, iters int) (float64, error) {
	src, err := d.Alloc(size)
	if err != nil {
		return 0, err
	}
	defer d.Free(src)
	dst, err := d.Alloc(size)
	if err != nil {
		return 0, err
	}
	defer d.Free(dst)
	defer d.enter()()
	a := d.a
	ps, pd := ptrOf(src), ptrOf(dst)
	if err := a.check("cuMemsetD32Async", a.cuMemsetD32Async(ps, 0x3f800000, uint64(size/4), d.stream)); err != nil {
		return 0, err
	}
	var e0, e1 cuEvent
	a.cuEventCreate(&e0, eventDefault)
	a.cuEventCreate(&e1, eventDefault)
	defer a.cuEventDestroy(e0)
	defer a.cuEventDestroy(e1)
	a.cuMemcpyDtoDAsync(pd, ps, uint64(size), d.stream) // warm up
	times := make([]float64, 0, iters)
	for range iters {
		a.cuEventRecord(e0, d.stream)
		if err := a.check("cuMemcpyDtoDAsync", a.cuMemcpyDtoDAsync(pd, ps, uint64(size), d.stream)); err != nil {
			return 0, err
		}
		a.cuEventRecord(e1, d.stream)
		if err := a.check("cuEventSynchronize", a.cuEventSynchronize(e1)); err != nil {
			return 0, err
		}
		var ms float32
		a.cuEventElapsedTime(&ms, e0, e1)
		times = append(times, float64(ms))
	}
	med := median(times)
	return 2 * float64(size) / (med / 1000), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// EnableRunTiming makes every Run record a CUDA event before and after its
// work, so LastRunMillis can say how long the GPU took for it.
func (d *Device) EnableRunTiming() error {
	defer d.enter()()
	if d.timing {
		return nil
	}
	a := d.a
	if err := a.check("cuEventCreate", a.cuEventCreate(&d.ev0, eventDefault)); err != nil {
		return err
	}
	if err := a.check("cuEventCreate", a.cuEventCreate(&d.ev1, eventDefault)); err != nil {
		return err
	}
	d.timing = true
	return nil
}

// LastRunMillis waits for the last Run and returns its GPU time (from the
// event before its first kernel to the one after its last).
func (d *Device) LastRunMillis() (float64, error) {
	defer d.enter()()
	if !d.timing || !d.timedRuns {
		return 0, errors.New("cuda: no timed run (EnableRunTiming)")
	}
	a := d.a
	if err := a.check("cuEventSynchronize", a.cuEventSynchronize(d.ev1)); err != nil {
		return 0, err
	}
	var ms float32
	if err := a.check("cuEventElapsedTime", a.cuEventElapsedTime(&ms, d.ev0, d.ev1)); err != nil {
		return 0, err
	}
	return float64(ms), nil
}

// ProfileQueued times each dispatch of plan (bound by b) where it runs in
// a step: it queues the dispatches, each followed by an event, behind
// device work long enough that the host has queued them all before the
// first starts, so they run back to back as from a CUDA graph (without
// programmatic dependent launch). It returns each dispatch's median time
// over reps rounds in milliseconds, launch gap included.
func (d *Device) ProfileQueued(plan *gpu.Plan, b *gpu.Bindings, reps int) ([]float64, error) {
	ls, err := d.resolve(plan, b)
	if err != nil {
		return nil, err
	}
	blocker, err := d.Alloc(2 << 30)
	if err != nil {
		return nil, err
	}
	defer d.Free(blocker)
	defer d.enter()()
	a := d.a
	n := len(ls.launches)
	evs := make([]cuEvent, n+1)
	for i := range evs {
		if err := a.check("cuEventCreate", a.cuEventCreate(&evs[i], eventDefault)); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, e := range evs {
			if e != 0 {
				a.cuEventDestroy(e)
			}
		}
	}()
	times := make([][]float64, n)
	for rep := 0; rep < reps; rep++ {
		// ~4 ms of memory traffic ahead of the dispatches (n launches and
		// events take the host about 5 us each to queue).
		for k := 0; k < 1+n/400; k++ {
			for j := 0; j < 6; j++ {
				a.cuMemsetD32Async(ptrOf(blocker), uint32(j), uint64(blocker.Size()/4), d.stream)
			}
		}
		a.cuEventRecord(evs[0], d.stream)
		for i := range ls.launches {
			l := &ls.launches[i]
			if err := a.check("cuLaunchKernel", d.launchKernel(l, false)); err != nil {
				return nil, fmt.Errorf("dispatch %d (%s): %w", i, l.kernel, err)
			}
			a.cuEventRecord(evs[i+1], d.stream)
		}
		if err := a.check("cuStreamSynchronize", a.cuStreamSynchronize(d.stream)); err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			var ms float32
			if err := a.check("cuEventElapsedTime", a.cuEventElapsedTime(&ms, evs[i], evs[i+1])); err != nil {
				return nil, err
			}
			times[i] = append(times[i], float64(ms))
		}
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = median(times[i])
	}
	return out, nil
}

// ProfileRepeat times each dispatch of plan (bound by b) alone: a CUDA
// graph of copies copies of it, replayed, timed by events around the
// replays. It returns each dispatch's time per copy in milliseconds: the
// kernel's steady cost in a graph, with its weights as warm as repetition
// makes them (small matrices stay in L2).
func (d *Device) ProfileRepeat(plan *gpu.Plan, b *gpu.Bindings, copies int) ([]float64, error) {
	ls, err := d.resolve(plan, b)
	if err != nil {
		return nil, err
	}
	defer d.enter()()
	a := d.a
	var e0, e1 cuEvent
	if err := a.check("cuEventCreate", a.cuEventCreate(&e0, eventDefault)); err != nil {
		return nil, err
	}
	defer a.cuEventDestroy(e0)
	if err := a.check("cuEventCreate", a.cuEventCreate(&e1, eventDefault)); err != nil {
		return nil, err
	}
	defer a.cuEventDestroy(e1)
	out := make([]float64, len(ls.launches))
	for i := range ls.launches {
		l := &ls.launches[i]
		if err := a.check("cuStreamBeginCapture", a.cuStreamBeginCapture(d.stream, captureModeThreadLocal)); err != nil {
			return nil, err
		}
		var lerr error
		for c := 0; c < copies; c++ {
			if err := a.check("cuLaunchKernel", d.launchKernel(l, false)); err != nil && lerr == nil {
				lerr = err
			}
		}
		var g cuGraph
		eerr := a.check("cuStreamEndCapture", a.cuStreamEndCapture(d.stream, &g))
		if lerr != nil || eerr != nil {
			if g != 0 {
				a.cuGraphDestroy(g)
			}
			return nil, errors.Join(lerr, eerr)
		}
		var exec cuGraphExe
		err := a.check("cuGraphInstantiate", a.cuGraphInstantiate(&exec, g, 0))
		a.cuGraphDestroy(g)
		if err != nil {
			return nil, err
		}
		a.cuGraphLaunch(exec, d.stream) // warm-up
		a.cuEventRecord(e0, d.stream)
		const rounds = 3
		for r := 0; r < rounds; r++ {
			a.cuGraphLaunch(exec, d.stream)
		}
		a.cuEventRecord(e1, d.stream)
		serr := a.check("cuStreamSynchronize", a.cuStreamSynchronize(d.stream))
		a.cuGraphExecDestroy(exec)
		if serr != nil {
			return nil, fmt.Errorf("dispatch %d (%s): %w", i, l.kernel, serr)
		}
		var ms float32
		if err := a.check("cuEventElapsedTime", a.cuEventElapsedTime(&ms, e0, e1)); err != nil {
			return nil, err
		}
		out[i] = float64(ms) / float64(rounds*copies)
	}
	return out, nil
}
