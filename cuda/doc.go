// Package cuda is the CUDA runtime: Go without cgo. It loads the NVIDIA
// driver API (libcuda.so.1) and NVRTC (libnvrtc) with purego, compiles the
// shared kernel source of package gpu for the device's architecture (the
// CUBIN is cached on disk, keyed by source hash, architecture and NVRTC
// version), uploads weights once, keeps the KV caches in device memory and
// captures each decode step in a CUDA graph, so a step costs one
// cuGraphLaunch instead of hundreds of cuLaunchKernel calls (~4 µs each
// through purego). On sm_90 and later the kernels are launched with
// programmatic dependent launch: each may start while the previous one
// finishes, loading its weights before it waits (GRID_DEP_WAIT in the
// kernel source). ProfileDecode and the Profile* methods measure where a
// decode step's time goes (pipeline selftest --profile).
//
// The graph analysis, launch plans and sessions are package gpu's, shared
// with the Metal runtime; this package is the thin device layer
// (gpu.Device) plus the runtime constructor. Without an NVIDIA driver or
// NVRTC, Open returns an error saying what is missing.
package cuda
