package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
)

// Options configure Open.
type Options struct {
	// Ordinal selects the GPU (default 0).
	Ordinal int
	// CacheDir holds compiled kernels; "" uses os.UserCacheDir()/graphpass/cuda,
	// "-" disables the cache.
	CacheDir string
	// NoGraphs turns off CUDA graph capture (every dispatch is a launch).
	NoGraphs bool
	// NoPDL turns off programmatic dependent launch (on by default on sm_90
	// and later with a CUDA 12+ driver; GRAPHPASS_CUDA_PDL=0 also turns it
	// off): each kernel then starts only after the previous one finished.
	NoPDL bool
}

// Device is the CUDA implementation of gpu.Device.
type Device struct {
	a             *api
	ordinal       cuDevice
	ctx           cuContext
	name, arch    string
	sms           int
	mod           cuModule
	fns           map[string]cuFunction
	stream        cuStream
	pinned        unsafe.Pointer
	pinnedSize    int64
	compileMillis float64
	noGraphs      bool
	pdl, pdlOK    bool
	pdlAttr       launchAttribute

	timing    bool // record events around each Run (EnableRunTiming)
	ev0, ev1  cuEvent
	timedRuns bool

	mu     sync.Mutex
	cached map[*gpu.Plan]*launchSet
	closed bool
}

type buffer struct {
	ptr  devPtr
	size int64
}

func (b *buffer) Size() int64 { return b.size }

var (
	loadOnce sync.Once
	loaded   *api
	loadErr  error
)

// Available reports why the CUDA runtime cannot run here, or nil.
func Available() error {
	loadOnce.Do(func() { loaded, loadErr = loadLibraries() })
	if loadErr != nil {
		return loadErr
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := loaded.check("cuInit", loaded.cuInit(0)); err != nil {
		return err
	}
	var n int32
	if err := loaded.check("cuDeviceGetCount", loaded.cuDeviceGetCount(&n)); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("no CUDA device")
	}
	return nil
}

// Open initialises the driver, picks a GPU, compiles (or loads cached) kernels.
func Open(opts Options) (*Device, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	a := loaded
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d := &Device{a: a, fns: map[string]cuFunction{}, cached: map[*gpu.Plan]*launchSet{}, noGraphs: opts.NoGraphs}
	if err := a.check("cuDeviceGet", a.cuDeviceGet(&d.ordinal, int32(opts.Ordinal))); err != nil {
		return nil, err
	}
	nb := make([]byte, 256)
	if err := a.check("cuDeviceGetName", a.cuDeviceGetName(&nb[0], int32(len(nb)), d.ordinal)); err != nil {
		return nil, err
	}
	d.name = goString(&nb[0])
	var major, minor, sms int32
	a.cuDeviceGetAttribute(&major, attrComputeCapMajor, d.ordinal)
	a.cuDeviceGetAttribute(&minor, attrComputeCapMinor, d.ordinal)
	a.cuDeviceGetAttribute(&sms, attrMultiprocessorCount, d.ordinal)
	d.arch, d.sms = fmt.Sprintf("sm_%d%d", major, minor), int(sms)
	if err := a.check("cuDevicePrimaryCtxRetain", a.cuDevicePrimaryCtxRetain(&d.ctx, d.ordinal)); err != nil {
		return nil, err
	}
	if err := a.check("cuCtxSetCurrent", a.cuCtxSetCurrent(d.ctx)); err != nil {
		return nil, err
	}
	start := time.Now()
	cubin, err := d.kernels(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	if err := a.check("cuModuleLoadData", a.cuModuleLoadData(&d.mod, unsafe.Pointer(&cubin[0]))); err != nil {
		return nil, err
	}
	for _, k := range gpu.KernelNames() {
		var f cuFunction
		if err := a.check("cuModuleGetFunction "+k, a.cuModuleGetFunction(&f, d.mod, k)); err != nil {
			return nil, err
		}
		d.fns[k] = f
	}
	d.compileMillis = float64(time.Since(start).Microseconds()) / 1000
	if err := a.check("cuStreamCreate", a.cuStreamCreate(&d.stream, streamNonBlocking)); err != nil {
		return nil, err
	}
	if err := d.growPinned(4 << 20); err != nil {
		return nil, err
	}
	d.pdlOK = major >= 9 && a.cuLaunchKernelEx != nil
	d.pdl = d.pdlOK && !opts.NoPDL && os.Getenv("GRAPHPASS_CUDA_PDL") != "0"
	d.pdlAttr.id = attrProgrammaticStreamSerialization
	d.pdlAttr.value[0] = 1
	return d, nil
}

// KernelResources reports a kernel's registers per thread and local
// (spilled) memory per thread in bytes, from the compiled module.
func (d *Device) KernelResources(name string) (regs, localBytes int, err error) {
	defer d.enter()()
	f, ok := d.fns[name]
	if !ok {
		return 0, 0, fmt.Errorf("cuda: no kernel %s", name)
	}
	var r, l int32
	if err := d.a.check("cuFuncGetAttribute", d.a.cuFuncGetAttribute(&r, 4, f)); err != nil { // CU_FUNC_ATTRIBUTE_NUM_REGS
		return 0, 0, err
	}
	if err := d.a.check("cuFuncGetAttribute", d.a.cuFuncGetAttribute(&l, 3, f)); err != nil { // CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES
		return 0, 0, err
	}
	return int(r), int(l), nil
}

// PDL reports whether kernels are launched with programmatic dependent
// launch.
func (d *Device) PDL() bool { return d.pdl }

// SetPDL turns programmatic dependent launch on or off where the device
// and driver support it (for comparisons) and drops the captured graphs.
// It reports whether it is on.
func (d *Device) SetPDL(on bool) bool {
	defer d.enter()()
	d.dropCached()
	d.pdl = on && d.pdlOK
	return d.pdl
}

// NewRuntime opens the default GPU and returns the CUDA backend.Runtime.
func NewRuntime() (*gpu.Runtime, error) {
	d, err := Open(Options{})
	if err != nil {
		return nil, err
	}
	return gpu.NewRuntime(d, d.compileMillis), nil
}

// Name implements gpu.Device.
func (d *Device) Name() string { return "cuda" }

// Description implements gpu.Device.
func (d *Device) Description() string {
	return fmt.Sprintf("%s (%s, %d SMs)", d.name, d.arch, d.sms)
}

// Arch is the compute architecture, e.g. "sm_90".
func (d *Device) Arch() string { return d.arch }

// CompileMillis is how long compiling (or loading cached) kernels took.
func (d *Device) CompileMillis() float64 { return d.compileMillis }

// NVRTCPath is the NVRTC library in use.
func (d *Device) NVRTCPath() string { return d.a.nvrtcPath }

// kernels returns the CUBIN of the shared kernel source for d's arch,
// from the disk cache or compiled with NVRTC.
func (d *Device) kernels(cacheDir string) ([]byte, error) {
	a := d.a
	var maj, min int32
	a.nvrtcVersion(&maj, &min)
	key := fmt.Sprintf("%s nvrtc%d.%d", d.arch, maj, min)
	if cacheDir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			cacheDir = filepath.Join(c, "graphpass", "cuda")
		}
	}
	var path string
	if cacheDir != "" && cacheDir != "-" {
		path = filepath.Join(cacheDir, gpu.SourceHash(gpu.CUDA, key)+".cubin")
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	cubin, err := d.compile()
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := os.MkdirAll(cacheDir, 0o755); err == nil {
			tmp := path + fmt.Sprintf(".%d.tmp", os.Getpid())
			if os.WriteFile(tmp, cubin, 0o644) == nil {
				os.Rename(tmp, path)
			}
		}
	}
	return cubin, nil
}

func (d *Device) compile() ([]byte, error) {
	a := d.a
	var prog uintptr
	if r := a.nvrtcCreateProgram(&prog, gpu.Source(gpu.CUDA), "kernels.cu", 0, nil, nil); r != nvrtcSuccess {
		return nil, fmt.Errorf("nvrtcCreateProgram: %s", goString(a.nvrtcGetErrorString(r)))
	}
	defer a.nvrtcDestroyProgram(&prog)
	opts := []string{"--gpu-architecture=" + d.arch, "--std=c++17", "-default-device", "-lineinfo"}
	cstrs := make([][]byte, len(opts))
	ptrs := make([]*byte, len(opts))
	for i, o := range opts {
		cstrs[i] = append([]byte(o), 0)
		ptrs[i] = &cstrs[i][0]
	}
	r := a.nvrtcCompileProgram(prog, int32(len(opts)), unsafe.Pointer(&ptrs[0]))
	runtime.KeepAlive(cstrs)
	var logSize uint64
	a.nvrtcGetProgramLogSize(prog, &logSize)
	var log string
	if logSize > 1 {
		lb := make([]byte, logSize)
		a.nvrtcGetProgramLog(prog, &lb[0])
		log = string(lb[:logSize-1])
	}
	if r != nvrtcSuccess {
		return nil, fmt.Errorf("compiling the kernel source with NVRTC (%s) for %s: %s\n%s", a.nvrtcPath, d.arch, goString(a.nvrtcGetErrorString(r)), log)
	}
	var n uint64
	if r := a.nvrtcGetCUBINSize(prog, &n); r != nvrtcSuccess || n == 0 {
		return nil, fmt.Errorf("nvrtcGetCUBINSize: %s", goString(a.nvrtcGetErrorString(r)))
	}
	cubin := make([]byte, n)
	if r := a.nvrtcGetCUBIN(prog, &cubin[0]); r != nvrtcSuccess {
		return nil, fmt.Errorf("nvrtcGetCUBIN: %s", goString(a.nvrtcGetErrorString(r)))
	}
	return cubin, nil
}

// enter pins the goroutine to its thread and makes d's context current
// there (CUDA contexts are per thread).
func (d *Device) enter() func() {
	d.mu.Lock()
	runtime.LockOSThread()
	d.a.cuCtxSetCurrent(d.ctx)
	return func() {
		runtime.UnlockOSThread()
		d.mu.Unlock()
	}
}

func (d *Device) growPinned(n int64) error {
	if n <= d.pinnedSize {
		return nil
	}
	if d.pinned != nil {
		d.a.cuMemFreeHost(d.pinned)
		d.pinned, d.pinnedSize = nil, 0
	}
	var p unsafe.Pointer
	if err := d.a.check("cuMemAllocHost", d.a.cuMemAllocHost(&p, uint64(n))); err != nil {
		return err
	}
	d.pinned, d.pinnedSize = p, n
	return nil
}

// Alloc implements gpu.Device.
func (d *Device) Alloc(size int64) (gpu.Buffer, error) {
	defer d.enter()()
	var p devPtr
	if err := d.a.check(fmt.Sprintf("cuMemAlloc(%d bytes)", size), d.a.cuMemAlloc(&p, uint64(size))); err != nil {
		var free, total uint64
		d.a.cuMemGetInfo(&free, &total)
		return nil, fmt.Errorf("%w (device has %d of %d MiB free)", err, free>>20, total>>20)
	}
	return &buffer{ptr: p, size: size}, nil
}

// Free implements gpu.Device.
func (d *Device) Free(b gpu.Buffer) {
	if bb, ok := b.(*buffer); ok && bb.ptr != 0 {
		defer d.enter()()
		d.a.cuStreamSynchronize(d.stream)
		d.a.cuMemFree(bb.ptr)
		bb.ptr = 0
	}
}

func (d *Device) target(b gpu.Buffer, off, n int64) (devPtr, error) {
	bb, ok := b.(*buffer)
	if !ok || bb.ptr == 0 {
		return 0, errors.New("cuda: not a live device buffer")
	}
	if off < 0 || off+n > bb.size {
		return 0, fmt.Errorf("cuda: copy of %d bytes at %d outside a %d-byte buffer", n, off, bb.size)
	}
	return bb.ptr + devPtr(off), nil
}

// Upload implements gpu.Device. Small copies go through pinned memory on
// the stream; large ones (weights) are synchronous.
func (d *Device) Upload(dst gpu.Buffer, off int64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	p, err := d.target(dst, off, int64(len(data)))
	if err != nil {
		return err
	}
	defer d.enter()()
	a := d.a
	if err := a.check("cuStreamSynchronize", a.cuStreamSynchronize(d.stream)); err != nil {
		return err
	}
	if int64(len(data)) <= 64<<20 {
		if err := d.growPinned(int64(len(data))); err != nil {
			return err
		}
		copy(unsafe.Slice((*byte)(d.pinned), len(data)), data)
		return a.check("cuMemcpyHtoDAsync", a.cuMemcpyHtoDAsync(p, d.pinned, uint64(len(data)), d.stream))
	}
	if err := a.check("cuMemcpyHtoD", a.cuMemcpyHtoD(p, unsafe.Pointer(&data[0]), uint64(len(data)))); err != nil {
		return err
	}
	return a.check("cuCtxSynchronize", a.cuCtxSynchronize())
}

// Download implements gpu.Device.
func (d *Device) Download(dst []byte, src gpu.Buffer, off int64) error {
	if len(dst) == 0 {
		return nil
	}
	p, err := d.target(src, off, int64(len(dst)))
	if err != nil {
		return err
	}
	defer d.enter()()
	a := d.a
	if err := a.check("cuStreamSynchronize", a.cuStreamSynchronize(d.stream)); err != nil {
		return fmt.Errorf("running kernels: %w", err)
	}
	if err := d.growPinned(int64(len(dst))); err != nil {
		return err
	}
	if err := a.check("cuMemcpyDtoHAsync", a.cuMemcpyDtoHAsync(d.pinned, p, uint64(len(dst)), d.stream)); err != nil {
		return err
	}
	if err := a.check("cuStreamSynchronize", a.cuStreamSynchronize(d.stream)); err != nil {
		return err
	}
	copy(dst, unsafe.Slice((*byte)(d.pinned), len(dst)))
	return nil
}

// Sync waits for all queued work.
func (d *Device) Sync() error {
	defer d.enter()()
	return d.a.check("cuStreamSynchronize", d.a.cuStreamSynchronize(d.stream))
}

// dropCached waits for queued work, then destroys and forgets every
// cached launch set and its captured graph. The caller holds the lock
// (d.enter).
func (d *Device) dropCached() {
	d.a.cuStreamSynchronize(d.stream)
	for p, ls := range d.cached {
		ls.destroy(d.a)
		delete(d.cached, p)
	}
}

// Close implements gpu.Device.
func (d *Device) Close() error {
	defer d.enter()()
	if d.closed {
		return nil
	}
	d.closed = true
	a := d.a
	d.dropCached()
	if d.pinned != nil {
		a.cuMemFreeHost(d.pinned)
	}
	a.cuStreamDestroy(d.stream)
	a.cuModuleUnload(d.mod)
	a.cuDevicePrimaryCtxRelease(d.ordinal)
	return nil
}
