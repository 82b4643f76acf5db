//go:build darwin && arm64

package metal

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/graphpass/graphpass/gpu"
)

// Device is the Metal implementation of gpu.Device: the system's default
// Metal device, the shared kernel source compiled as MSL 2.4 into one
// compute pipeline per kernel, and a command queue. Buffers use shared
// storage, so uploads and read-backs are plain copies; checkpoint weights
// can be wrapped in place (MapWeight).
type Device struct {
	dev, queue    uintptr // id<MTLDevice>, id<MTLCommandQueue>
	name          string
	kernels       map[string]kernel
	maxBufferLen  int64
	page          int64
	noCopy        bool
	compileMillis float64
	compileLog    string // the compiler's warnings, if it had any
	files         fileMaps

	mu     sync.Mutex // one Run at a time; guards cmds and closed
	cmds   []command
	closed bool
}

// Open returns the system's default Metal device with every kernel
// compiled, or an error saying why there is none.
func Open() (*Device, error) {
	if err := load(); err != nil {
		return nil, err
	}
	d := &Device{
		kernels: map[string]kernel{},
		page:    int64(os.Getpagesize()),
		noCopy:  os.Getenv("GRAPHPASS_METAL_NOCOPY") != "0",
	}
	if err := withPool(d.open); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Device) open() error {
	// MTLCreateSystemDefaultDevice returns a retained device (Create rule),
	// released in Close.
	d.dev = callC(createDefaultDevice)
	if d.dev == 0 {
		// MTLCopyAllDevices returns a retained NSArray; its elements are
		// not ours, so the first one is retained before the array goes.
		all := callC(copyAllDevices)
		if all != 0 {
			if send(all, selCount) > 0 {
				d.dev = send(send(all, selObjectAtIndex, 0), selRetain)
			}
			release(all)
		}
	}
	if d.dev == 0 {
		return errors.New("metal: no Metal device (MTLCreateSystemDefaultDevice and MTLCopyAllDevices found none)")
	}
	d.name = goString(send(d.dev, selName))
	if !sendBool(d.dev, selSupportsFamily, gpuFamilyApple7) {
		return fmt.Errorf("metal: %s is not an Apple7 (M1) or newer GPU; the kernels need its SIMD-group reductions", d.name)
	}
	d.maxBufferLen = int64(send(d.dev, selMaxBufferLength))
	if err := d.compile(); err != nil {
		return err
	}
	if d.queue = send(d.dev, selNewCommandQueue); d.queue == 0 {
		return fmt.Errorf("metal: %s: newCommandQueue returned nil", d.name)
	}
	return nil
}

// compile builds the kernel library from source and one pipeline per kernel.
func (d *Device) compile() error {
	start := time.Now()
	src := nsString(gpu.Source(gpu.Metal))
	defer release(src)
	opts := send(send(clsMTLCompileOptions, selAlloc), selInit)
	defer release(opts)
	send(opts, selSetLanguageVersion, languageVersion2_4)
	// No fast math: the kernels must match the f32 reference.
	if sendBool(opts, selRespondsToSelector, selSetMathMode) {
		send(opts, selSetMathMode, mathModeSafe)
		if sendBool(opts, selRespondsToSelector, selSetMathFloatingPointFunctions) {
			send(opts, selSetMathFloatingPointFunctions, mathFloatingPointFunctionsPrecise)
		}
	} else {
		send(opts, selSetFastMathEnabled, 0)
	}
	var nserr uintptr
	lib := sendIDIDErr(d.dev, selNewLibraryWithSourceOptionsError, src, opts, &nserr)
	if lib == 0 {
		return fmt.Errorf("metal: compiling the kernel source as MSL 2.4 on %s failed:\n%s", d.name, trimLog(errorText(nserr)))
	}
	defer release(lib)
	if nserr != 0 { // built, with warnings
		d.compileLog = errorText(nserr)
	}
	for _, name := range gpu.KernelNames() {
		ns := nsString(name)
		fn := send(lib, selNewFunctionWithName, ns)
		release(ns)
		if fn == 0 {
			return fmt.Errorf("metal: kernel %s is missing from the compiled library", name)
		}
		var perr uintptr
		pso := sendIDErr(d.dev, selNewComputePipelineStateWithFunctionError, fn, &perr)
		release(fn)
		if pso == 0 {
			return fmt.Errorf("metal: making the compute pipeline of %s: %s", name, trimLog(errorText(perr)))
		}
		k := kernel{pipeline: pso, maxThreads: int(send(pso, selMaxTotalThreadsPerThreadgroup))}
		d.kernels[name] = k
		if w := send(pso, selThreadExecutionWidth); w != simdWidth {
			return fmt.Errorf("metal: kernel %s runs %d threads per SIMD-group on %s; the kernels are written for %d", name, w, d.name, simdWidth)
		}
	}
	d.compileMillis = float64(time.Since(start).Microseconds()) / 1000
	return nil
}

// trimLog keeps a compiler log to a readable size.
func trimLog(s string) string {
	const max = 8 << 10
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = s[:max] + "\n[log truncated]"
	}
	return s
}

// Name implements gpu.Device.
func (d *Device) Name() string { return "metal" }

// Description implements gpu.Device: the GPU's name.
func (d *Device) Description() string { return d.name }

// CompileLog returns the Metal compiler's warnings, if it had any.
func (d *Device) CompileLog() string { return d.compileLog }

// Alloc implements gpu.Device: a shared-storage buffer.
func (d *Device) Alloc(size int64) (gpu.Buffer, error) {
	if size <= 0 {
		return nil, fmt.Errorf("metal: cannot allocate %d bytes", size)
	}
	if d.maxBufferLen > 0 && size > d.maxBufferLen {
		return nil, fmt.Errorf("metal: %d bytes exceed %s's largest buffer (maxBufferLength %d)", size, d.name, d.maxBufferLen)
	}
	var b *buffer
	err := withPool(func() error {
		id := send(d.dev, selNewBufferWithLengthOptions, uintptr(size), bufferOptions)
		if id == 0 {
			return fmt.Errorf("metal: newBufferWithLength:%d failed (out of memory?)", size)
		}
		b = &buffer{id: id, ptr: pointerAt(send(id, selContents)), size: size}
		return nil
	})
	return b, err
}

// Device maps checkpoint weights in place (gpu.Runtime.Load asks first).
var _ gpu.WeightMapper = (*Device)(nil)

// MapWeight wraps a checkpoint weight's bytes in place, without copying:
// the file is mapped read-only and the pages around the tensor become an
// MTLBuffer (newBufferWithBytesNoCopy:length:options:deallocator:) bound
// at the tensor's offset. ok is false when the weight must be copied
// instead: its device form differs from the file's bytes, its offset is
// not 16-byte aligned, or GRAPHPASS_METAL_NOCOPY=0.
func (d *Device) MapWeight(w *gpu.WeightSlot) (buf gpu.Buffer, ok bool, err error) {
	if !d.noCopy {
		return nil, false, nil
	}
	mw, _, err := d.files.locateWeight(w, d.page, d.maxBufferLen)
	if err != nil || mw == nil {
		return nil, false, err
	}
	err = withPool(func() error {
		// deallocator nil: the mapping outlives the buffer (released in Free).
		id := sendPtrUintUintID(d.dev, selNewBufferWithBytesNoCopy, mw.file.at(mw.window.Start), uintptr(mw.window.Length), bufferOptions, 0)
		if id == 0 {
			return nil
		}
		buf = &buffer{id: id, ptr: pointerAt(send(id, selContents)), size: mw.size, base: mw.window.Offset, readOnly: true, file: mw.file}
		return nil
	})
	if err != nil || buf == nil {
		// The device declined the wrap: the caller copies instead.
		return nil, false, errors.Join(err, d.files.release(mw.file))
	}
	return buf, true, nil
}

// Free implements gpu.Device.
func (d *Device) Free(b gpu.Buffer) {
	bb, ok := b.(*buffer)
	if !ok || bb == nil || bb.id == 0 {
		return
	}
	_ = withPool(func() error { release(bb.id); return nil })
	_ = d.files.forget(bb)
	*bb = buffer{}
}

// Upload implements gpu.Device.
func (d *Device) Upload(dst gpu.Buffer, off int64, data []byte) error {
	bb, ok := dst.(*buffer)
	if !ok {
		return errors.New("metal: upload to a buffer of another device")
	}
	return bb.upload(off, data)
}

// Download implements gpu.Device.
func (d *Device) Download(dst []byte, src gpu.Buffer, off int64) error {
	bb, ok := src.(*buffer)
	if !ok {
		return errors.New("metal: download from a buffer of another device")
	}
	return bb.download(dst, off)
}

// Run implements gpu.Device: every dispatch, in plan order, in one serial
// compute encoder of one command buffer; then it waits for the GPU.
func (d *Device) Run(plan *gpu.Plan, b *gpu.Bindings) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("metal: device is closed")
	}
	cmds, err := prepare(plan, b, d.kernels, d.cmds)
	if err != nil {
		return err
	}
	d.cmds = cmds
	return withPool(func() error {
		// commandBuffer and computeCommandEncoder return autoreleased
		// objects: the pool holds them until the GPU is done.
		cb := send(d.queue, selCommandBuffer)
		if cb == 0 {
			return errors.New("metal: commandBuffer returned nil")
		}
		enc := send(cb, selComputeCommandEncoder)
		if enc == 0 {
			return errors.New("metal: computeCommandEncoder returned nil")
		}
		encode(objcEncoder(enc), cmds)
		send(enc, selEndEncoding)
		send(cb, selCommit)
		send(cb, selWaitUntilCompleted)
		if st := uint64(send(cb, selStatus)); st != statusCompleted {
			return fmt.Errorf("metal: a command buffer of %d dispatches ended %s: %s", len(cmds), statusName(st), errorText(send(cb, selError)))
		}
		return nil
	})
}

// Release implements gpu.Device (nothing is cached per plan).
func (d *Device) Release(*gpu.Plan) {}

// Close implements gpu.Device. Buffers still alive keep their memory (and
// wrapped files stay mapped) until freed.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return withPool(func() error {
		for _, k := range d.kernels {
			release(k.pipeline)
		}
		d.kernels = nil
		release(d.queue)
		release(d.dev)
		d.queue, d.dev = 0, 0
		return nil
	})
}
