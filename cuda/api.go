package cuda

import (
	"fmt"
	"unsafe"
)

// Driver API handles and types (cuda.h).
type (
	cuResult   int32
	cuDevice   int32
	cuContext  uintptr
	cuModule   uintptr
	cuFunction uintptr
	cuStream   uintptr
	cuEvent    uintptr
	cuGraph    uintptr
	cuGraphExe uintptr
	devPtr     uint64
)

// Device attributes (CUdevice_attribute).
const (
	attrMultiprocessorCount = 16
	attrComputeCapMajor     = 75
	attrComputeCapMinor     = 76
	attrMaxSharedPerBlock   = 8
)

const (
	streamNonBlocking               = 1 // CU_STREAM_NON_BLOCKING
	captureModeThreadLocal          = 1 // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
	eventDefault                    = 0
	nvrtcSuccess                    = 0
	cudaSuccess            cuResult = 0
)

// launchConfig is CUlaunchConfig (cuda.h): 56 bytes, 8-byte aligned.
type launchConfig struct {
	gridX, gridY, gridZ    uint32
	blockX, blockY, blockZ uint32
	sharedMem              uint32
	_                      uint32
	stream                 cuStream
	attrs                  *launchAttribute
	numAttrs               uint32
	_                      uint32
}

// launchAttribute is CUlaunchAttribute: an id, padding, a 64-byte value.
type launchAttribute struct {
	id    uint32
	_     uint32
	value [64]byte
}

// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION: the kernel may
// start before the previous kernel in the stream has finished (programmatic
// dependent launch, sm_90); it waits with griddepcontrol.wait.
const attrProgrammaticStreamSerialization = 6

// api holds the driver and NVRTC entry points, registered with purego.
type api struct {
	nvrtcPath string

	cuInit                    func(flags uint32) cuResult
	cuDeviceGet               func(d *cuDevice, ordinal int32) cuResult
	cuDeviceGetCount          func(n *int32) cuResult
	cuDeviceGetName           func(name *byte, n int32, d cuDevice) cuResult
	cuDeviceGetAttribute      func(v *int32, attr int32, d cuDevice) cuResult
	cuDevicePrimaryCtxRetain  func(ctx *cuContext, d cuDevice) cuResult
	cuDevicePrimaryCtxRelease func(d cuDevice) cuResult
	cuCtxSetCurrent           func(ctx cuContext) cuResult
	cuCtxSynchronize          func() cuResult
	cuMemGetInfo              func(free, total *uint64) cuResult
	cuModuleLoadData          func(m *cuModule, image unsafe.Pointer) cuResult
	cuModuleUnload            func(m cuModule) cuResult
	cuModuleGetFunction       func(f *cuFunction, m cuModule, name string) cuResult
	cuMemAlloc                func(p *devPtr, size uint64) cuResult
	cuMemFree                 func(p devPtr) cuResult
	cuMemAllocHost            func(p *unsafe.Pointer, size uint64) cuResult
	cuMemFreeHost             func(p unsafe.Pointer) cuResult
	cuMemcpyHtoD              func(dst devPtr, src unsafe.Pointer, n uint64) cuResult
	cuMemcpyHtoDAsync         func(dst devPtr, src unsafe.Pointer, n uint64, s cuStream) cuResult
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src devPtr, n uint64, s cuStream) cuResult
	cuMemcpyDtoDAsync         func(dst, src devPtr, n uint64, s cuStream) cuResult
	cuMemsetD32Async          func(dst devPtr, v uint32, n uint64, s cuStream) cuResult
	cuStreamCreate            func(s *cuStream, flags uint32) cuResult
	cuStreamDestroy           func(s cuStream) cuResult
	cuStreamSynchronize       func(s cuStream) cuResult
	cuEventCreate             func(e *cuEvent, flags uint32) cuResult
	cuEventDestroy            func(e cuEvent) cuResult
	cuEventRecord             func(e cuEvent, s cuStream) cuResult
	cuEventSynchronize        func(e cuEvent) cuResult
	cuEventElapsedTime        func(ms *float32, start, end cuEvent) cuResult
	cuLaunchKernel            func(f cuFunction, gx, gy, gz, bx, by, bz, shared uint32, s cuStream, params unsafe.Pointer, extra unsafe.Pointer) cuResult
	cuLaunchKernelEx          func(cfg *launchConfig, f cuFunction, params unsafe.Pointer, extra unsafe.Pointer) cuResult // nil before CUDA 12
	cuFuncGetAttribute        func(v *int32, attr int32, f cuFunction) cuResult
	cuStreamBeginCapture      func(s cuStream, mode int32) cuResult
	cuStreamEndCapture        func(s cuStream, g *cuGraph) cuResult
	cuGraphInstantiate        func(e *cuGraphExe, g cuGraph, flags uint64) cuResult
	cuGraphLaunch             func(e cuGraphExe, s cuStream) cuResult
	cuGraphExecDestroy        func(e cuGraphExe) cuResult
	cuGraphDestroy            func(g cuGraph) cuResult
	cuGetErrorName            func(r cuResult, s **byte) cuResult
	cuGetErrorString          func(r cuResult, s **byte) cuResult
	nvrtcVersion              func(major, minor *int32) int32
	nvrtcCreateProgram        func(p *uintptr, src string, name string, nh int32, headers, names unsafe.Pointer) int32
	nvrtcCompileProgram       func(p uintptr, n int32, opts unsafe.Pointer) int32
	nvrtcGetProgramLogSize    func(p uintptr, n *uint64) int32
	nvrtcGetProgramLog        func(p uintptr, buf *byte) int32
	nvrtcGetCUBINSize         func(p uintptr, n *uint64) int32
	nvrtcGetCUBIN             func(p uintptr, buf *byte) int32
	nvrtcDestroyProgram       func(p *uintptr) int32
	nvrtcGetErrorString       func(r int32) *byte
}

func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}

// check turns a driver result into an error naming the call.
func (a *api) check(call string, r cuResult) error {
	if r == cudaSuccess {
		return nil
	}
	var name, desc *byte
	a.cuGetErrorName(r, &name)
	a.cuGetErrorString(r, &desc)
	return fmt.Errorf("%s: CUDA error %d %s: %s", call, int(r), goString(name), goString(desc))
}
