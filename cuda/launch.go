package cuda

import (
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

func (d *Device) launchAll(ls *launchSet) error {
	a := d.a
	for i := range ls.launches {
		l := &ls.launches[i]
		r := a.cuLaunchKernel(l.fn, l.grid[0], l.grid[1], l.grid[2], l.threads, 1, 1, 0, d.stream, unsafe.Pointer(&l.params[0]), nil)
		if err := a.check("cuLaunchKernel", r); err != nil {
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
