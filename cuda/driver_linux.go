//go:build linux

package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebitengine/purego"
)

// nvrtcCandidates lists where libnvrtc is looked for, in order: the
// GRAPHPASS_NVRTC variable, CUDA toolkits under /usr/local (newest
// first), then the dynamic loader's path.
func nvrtcCandidates() []string {
	var c []string
	if p := os.Getenv("GRAPHPASS_NVRTC"); p != "" {
		c = append(c, p)
	}
	dirs, _ := filepath.Glob("/usr/local/cuda*/lib64")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		libs, _ := filepath.Glob(filepath.Join(d, "libnvrtc.so*"))
		sort.Slice(libs, func(i, j int) bool { return len(libs[i]) < len(libs[j]) })
		c = append(c, libs...)
	}
	for _, pat := range []string{"/usr/lib/x86_64-linux-gnu/libnvrtc.so*", "/usr/lib64/libnvrtc.so*", "/usr/local/lib/python3*/dist-packages/nvidia/cu*/lib/libnvrtc.so*", "/usr/local/lib/python3*/dist-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so*"} {
		libs, _ := filepath.Glob(pat)
		c = append(c, libs...)
	}
	return append(c, "libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2")
}

func bind(h uintptr, lib string, fptr any, name string) error {
	sym, err := purego.Dlsym(h, name)
	if err != nil {
		return fmt.Errorf("%s has no %s: %v", lib, name, err)
	}
	purego.RegisterFunc(fptr, sym)
	return nil
}

func loadLibraries() (*api, error) {
	cu, err := purego.Dlopen("libcuda.so.1", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, fmt.Errorf("no NVIDIA driver: cannot load libcuda.so.1 (%v)", err)
	}
	a := &api{}
	for _, f := range []struct {
		p    any
		name string
	}{
		{&a.cuInit, "cuInit"},
		{&a.cuDeviceGet, "cuDeviceGet"},
		{&a.cuDeviceGetCount, "cuDeviceGetCount"},
		{&a.cuDeviceGetName, "cuDeviceGetName"},
		{&a.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
		{&a.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&a.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&a.cuCtxSetCurrent, "cuCtxSetCurrent"},
		{&a.cuCtxSynchronize, "cuCtxSynchronize"},
		{&a.cuMemGetInfo, "cuMemGetInfo_v2"},
		{&a.cuModuleLoadData, "cuModuleLoadData"},
		{&a.cuModuleUnload, "cuModuleUnload"},
		{&a.cuModuleGetFunction, "cuModuleGetFunction"},
		{&a.cuMemAlloc, "cuMemAlloc_v2"},
		{&a.cuMemFree, "cuMemFree_v2"},
		{&a.cuMemAllocHost, "cuMemAllocHost_v2"},
		{&a.cuMemFreeHost, "cuMemFreeHost"},
		{&a.cuMemcpyHtoD, "cuMemcpyHtoD_v2"},
		{&a.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"},
		{&a.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"},
		{&a.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"},
		{&a.cuMemsetD32Async, "cuMemsetD32Async"},
		{&a.cuStreamCreate, "cuStreamCreate"},
		{&a.cuStreamDestroy, "cuStreamDestroy_v2"},
		{&a.cuStreamSynchronize, "cuStreamSynchronize"},
		{&a.cuEventCreate, "cuEventCreate"},
		{&a.cuEventDestroy, "cuEventDestroy_v2"},
		{&a.cuEventRecord, "cuEventRecord"},
		{&a.cuEventSynchronize, "cuEventSynchronize"},
		{&a.cuEventElapsedTime, "cuEventElapsedTime"},
		{&a.cuLaunchKernel, "cuLaunchKernel"},
		{&a.cuFuncGetAttribute, "cuFuncGetAttribute"},
		{&a.cuStreamBeginCapture, "cuStreamBeginCapture_v2"},
		{&a.cuStreamEndCapture, "cuStreamEndCapture"},
		{&a.cuGraphInstantiate, "cuGraphInstantiateWithFlags"},
		{&a.cuGraphLaunch, "cuGraphLaunch"},
		{&a.cuGraphExecDestroy, "cuGraphExecDestroy"},
		{&a.cuGraphDestroy, "cuGraphDestroy"},
		{&a.cuGetErrorName, "cuGetErrorName"},
		{&a.cuGetErrorString, "cuGetErrorString"},
	} {
		if err := bind(cu, "libcuda.so.1", f.p, f.name); err != nil {
			return nil, err
		}
	}
	// Optional entry points: programmatic dependent launch needs CUDA 12.
	if sym, err := purego.Dlsym(cu, "cuLaunchKernelEx"); err == nil {
		purego.RegisterFunc(&a.cuLaunchKernelEx, sym)
	}
	var tried []string
	var nv uintptr
	for _, c := range nvrtcCandidates() {
		h, err := purego.Dlopen(c, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			nv, a.nvrtcPath = h, c
			break
		}
		tried = append(tried, c)
	}
	if nv == 0 {
		return nil, fmt.Errorf("no NVRTC: none of %s could be loaded (install the CUDA toolkit's NVRTC or set GRAPHPASS_NVRTC)", strings.Join(tried, ", "))
	}
	for _, f := range []struct {
		p    any
		name string
	}{
		{&a.nvrtcVersion, "nvrtcVersion"},
		{&a.nvrtcCreateProgram, "nvrtcCreateProgram"},
		{&a.nvrtcCompileProgram, "nvrtcCompileProgram"},
		{&a.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"},
		{&a.nvrtcGetProgramLog, "nvrtcGetProgramLog"},
		{&a.nvrtcGetCUBINSize, "nvrtcGetCUBINSize"},
		{&a.nvrtcGetCUBIN, "nvrtcGetCUBIN"},
		{&a.nvrtcDestroyProgram, "nvrtcDestroyProgram"},
		{&a.nvrtcGetErrorString, "nvrtcGetErrorString"},
	} {
		if err := bind(nv, a.nvrtcPath, f.p, f.name); err != nil {
			return nil, err
		}
	}
	return a, nil
}
