//go:build darwin

package metal

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"

	"github.com/graphpass/graphpass/gpu"
)

// Values from Metal's headers (checked against Apple's documentation):
// MTLResourceStorageModeShared = 0 << 4 (CPU and GPU share the memory),
// MTLLanguageVersion2_4 = (2 << 16) + 4, MTLCommandBufferStatusCompleted = 4.
const (
	resourceStorageModeShared = 0
	languageVersion2_4        = 2<<16 + 4
	commandBufferCompleted    = 4
)

// mtlSize is MTLSize: three NSUInteger, passed by value.
type mtlSize struct{ Width, Height, Depth uint64 }

var (
	initOnce     sync.Once
	initErr      error
	createDevice func() objc.ID

	selAlloc, selInit, selRelease, selDrain                objc.SEL
	selName, selUTF8String, selStringWithUTF8String        objc.SEL
	selLocalizedDescription                                objc.SEL
	selNewLibrary, selNewFunction, selNewPipeline          objc.SEL
	selMaxThreads, selNewCommandQueue, selNewBuffer        objc.SEL
	selContents, selCommandBuffer, selComputeEncoder       objc.SEL
	selSetPipeline, selSetBuffer, selSetBytes, selDispatch objc.SEL
	selEndEncoding, selCommit, selWaitUntilCompleted       objc.SEL
	selStatus, selError, selSetLanguageVersion             objc.SEL
	selSetFastMath                                         objc.SEL
)

func initMetal() error {
	initOnce.Do(func() {
		lib, err := purego.Dlopen("/System/Library/Frameworks/Metal.framework/Metal", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			initErr = fmt.Errorf("cannot load Metal.framework: %w", err)
			return
		}
		if _, err := purego.Dlopen("/System/Library/Frameworks/Foundation.framework/Foundation", purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
			initErr = fmt.Errorf("cannot load Foundation.framework: %w", err)
			return
		}
		purego.RegisterLibFunc(&createDevice, lib, "MTLCreateSystemDefaultDevice")
		for _, s := range []struct {
			p    *objc.SEL
			name string
		}{
			{&selAlloc, "alloc"}, {&selInit, "init"}, {&selRelease, "release"}, {&selDrain, "drain"},
			{&selName, "name"}, {&selUTF8String, "UTF8String"}, {&selStringWithUTF8String, "stringWithUTF8String:"},
			{&selLocalizedDescription, "localizedDescription"},
			{&selNewLibrary, "newLibraryWithSource:options:error:"},
			{&selNewFunction, "newFunctionWithName:"},
			{&selNewPipeline, "newComputePipelineStateWithFunction:error:"},
			{&selMaxThreads, "maxTotalThreadsPerThreadgroup"},
			{&selNewCommandQueue, "newCommandQueue"},
			{&selNewBuffer, "newBufferWithLength:options:"},
			{&selContents, "contents"},
			{&selCommandBuffer, "commandBuffer"},
			{&selComputeEncoder, "computeCommandEncoder"},
			{&selSetPipeline, "setComputePipelineState:"},
			{&selSetBuffer, "setBuffer:offset:atIndex:"},
			{&selSetBytes, "setBytes:length:atIndex:"},
			{&selDispatch, "dispatchThreadgroups:threadsPerThreadgroup:"},
			{&selEndEncoding, "endEncoding"},
			{&selCommit, "commit"},
			{&selWaitUntilCompleted, "waitUntilCompleted"},
			{&selStatus, "status"},
			{&selError, "error"},
			{&selSetLanguageVersion, "setLanguageVersion:"},
			{&selSetFastMath, "setFastMathEnabled:"},
		} {
			*s.p = objc.RegisterName(s.name)
		}
	})
	return initErr
}

func cString(s string) *byte {
	b := append([]byte(s), 0)
	return &b[0]
}

func nsString(s string) objc.ID {
	return objc.ID(objc.GetClass("NSString")).Send(selStringWithUTF8String, cString(s))
}

func goString(ns objc.ID) string {
	if ns == 0 {
		return ""
	}
	p := objc.Send[*byte](ns, selUTF8String)
	if p == nil {
		return ""
	}
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}

func nsErrorString(e objc.ID) string {
	if e == 0 {
		return "unknown error"
	}
	return goString(e.Send(selLocalizedDescription))
}

func autoreleasePool() objc.ID {
	return objc.ID(objc.GetClass("NSAutoreleasePool")).Send(selAlloc).Send(selInit)
}

// Device is the Metal implementation of gpu.Device.
type Device struct {
	dev           objc.ID
	queue         objc.ID
	name          string
	pipelines     map[string]objc.ID
	maxThreads    map[string]int
	compileMillis float64
	mu            sync.Mutex
}

type buffer struct {
	id   objc.ID
	ptr  unsafe.Pointer
	size int64
}

func (b *buffer) Size() int64 { return b.size }

var (
	libMu    sync.Mutex
	libCache = map[objc.ID]objc.ID{} // device → compiled library, once per process
)

// Open returns the system's default Metal device with the kernels compiled.
func Open() (*Device, error) {
	if err := initMetal(); err != nil {
		return nil, err
	}
	pool := autoreleasePool()
	defer pool.Send(selDrain)
	dev := createDevice()
	if dev == 0 {
		return nil, errors.New("no Metal device (MTLCreateSystemDefaultDevice returned nil)")
	}
	d := &Device{dev: dev, name: goString(dev.Send(selName)), pipelines: map[string]objc.ID{}, maxThreads: map[string]int{}}
	start := time.Now()
	libMu.Lock()
	lib := libCache[dev]
	if lib == 0 {
		opts := objc.ID(objc.GetClass("MTLCompileOptions")).Send(selAlloc).Send(selInit)
		opts.Send(selSetLanguageVersion, uint64(languageVersion2_4))
		opts.Send(selSetFastMath, false) // the kernels must equal the f32 reference
		var nserr objc.ID
		lib = dev.Send(selNewLibrary, nsString(gpu.Source(gpu.Metal)), opts, &nserr)
		opts.Send(selRelease)
		if lib == 0 {
			libMu.Unlock()
			return nil, fmt.Errorf("compiling the kernel source as MSL: %s", nsErrorString(nserr))
		}
		libCache[dev] = lib
	}
	libMu.Unlock()
	for _, k := range gpu.KernelNames() {
		fn := lib.Send(selNewFunction, nsString(k))
		if fn == 0 {
			return nil, fmt.Errorf("metal: kernel %s missing from the compiled library", k)
		}
		var nserr objc.ID
		pso := dev.Send(selNewPipeline, fn, &nserr)
		fn.Send(selRelease)
		if pso == 0 {
			return nil, fmt.Errorf("metal: pipeline for %s: %s", k, nsErrorString(nserr))
		}
		d.pipelines[k] = pso
		d.maxThreads[k] = int(objc.Send[uint64](pso, selMaxThreads))
	}
	d.compileMillis = float64(time.Since(start).Microseconds()) / 1000
	d.queue = dev.Send(selNewCommandQueue)
	if d.queue == 0 {
		return nil, errors.New("metal: newCommandQueue returned nil")
	}
	return d, nil
}

// Name implements gpu.Device.
func (d *Device) Name() string { return "metal" }

// Description implements gpu.Device.
func (d *Device) Description() string { return d.name }

// Alloc implements gpu.Device: a shared-storage buffer (unified memory).
func (d *Device) Alloc(size int64) (gpu.Buffer, error) {
	id := d.dev.Send(selNewBuffer, uint64(size), uint64(resourceStorageModeShared))
	if id == 0 {
		return nil, fmt.Errorf("metal: newBufferWithLength:%d failed", size)
	}
	return &buffer{id: id, ptr: objc.Send[unsafe.Pointer](id, selContents), size: size}, nil
}

// Free implements gpu.Device.
func (d *Device) Free(b gpu.Buffer) {
	if bb, ok := b.(*buffer); ok && bb.id != 0 {
		bb.id.Send(selRelease)
		bb.id, bb.ptr = 0, nil
	}
}

func span(b gpu.Buffer, off, n int64) ([]byte, error) {
	bb, ok := b.(*buffer)
	if !ok || bb.id == 0 {
		return nil, errors.New("metal: not a live buffer")
	}
	if off < 0 || off+n > bb.size {
		return nil, fmt.Errorf("metal: %d bytes at %d outside a %d-byte buffer", n, off, bb.size)
	}
	return unsafe.Slice((*byte)(unsafe.Add(bb.ptr, off)), n), nil
}

// Upload implements gpu.Device (Run waits for the GPU, so the buffer is idle).
func (d *Device) Upload(dst gpu.Buffer, off int64, data []byte) error {
	s, err := span(dst, off, int64(len(data)))
	if err != nil {
		return err
	}
	copy(s, data)
	return nil
}

// Download implements gpu.Device.
func (d *Device) Download(dst []byte, src gpu.Buffer, off int64) error {
	s, err := span(src, off, int64(len(dst)))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// Run implements gpu.Device: one command buffer, one serial compute
// encoder, every dispatch in plan order, then wait.
func (d *Device) Run(plan *gpu.Plan, b *gpu.Bindings) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	pool := autoreleasePool()
	defer pool.Send(selDrain)
	cb := d.queue.Send(selCommandBuffer)
	enc := cb.Send(selComputeEncoder)
	var params [gpu.ParamsSize]byte
	for i := range plan.Dispatches {
		disp := &plan.Dispatches[i]
		pso, ok := d.pipelines[disp.Kernel]
		if !ok {
			enc.Send(selEndEncoding)
			return fmt.Errorf("metal: no kernel %s", disp.Kernel)
		}
		if disp.Threads > d.maxThreads[disp.Kernel] {
			enc.Send(selEndEncoding)
			return fmt.Errorf("metal: dispatch %d (%s, node %s) wants %d threads per threadgroup, the pipeline allows %d", i, disp.Kernel, disp.Node, disp.Threads, d.maxThreads[disp.Kernel])
		}
		enc.Send(selSetPipeline, pso)
		for j, ref := range disp.Args {
			buf, off := b.Resolve(ref)
			bb, ok := buf.(*buffer)
			if !ok || bb.id == 0 {
				enc.Send(selEndEncoding)
				return fmt.Errorf("metal: dispatch %d (%s): argument %d has no buffer", i, disp.Kernel, j)
			}
			enc.Send(selSetBuffer, bb.id, uint64(off), uint64(j))
		}
		disp.Params.Put(params[:])
		enc.Send(selSetBytes, unsafe.Pointer(&params[0]), uint64(gpu.ParamsSize), uint64(len(disp.Args)))
		grid := mtlSize{uint64(max(disp.Grid[0], 1)), uint64(max(disp.Grid[1], 1)), uint64(max(disp.Grid[2], 1))}
		enc.Send(selDispatch, grid, mtlSize{uint64(disp.Threads), 1, 1})
	}
	enc.Send(selEndEncoding)
	cb.Send(selCommit)
	cb.Send(selWaitUntilCompleted)
	if st := objc.Send[uint64](cb, selStatus); st != commandBufferCompleted {
		return fmt.Errorf("metal: command buffer status %d: %s", st, nsErrorString(cb.Send(selError)))
	}
	return nil
}

// Release implements gpu.Device (nothing is cached per plan).
func (d *Device) Release(*gpu.Plan) {}

// Close implements gpu.Device.
func (d *Device) Close() error {
	for _, p := range d.pipelines {
		p.Send(selRelease)
	}
	d.pipelines = nil
	if d.queue != 0 {
		d.queue.Send(selRelease)
		d.queue = 0
	}
	return nil
}
