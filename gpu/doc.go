// Package gpu holds what the GPU runtimes share: one kernel source that
// compiles as CUDA C++ (NVRTC, package cuda) and as the Metal Shading
// Language (package metal) through a small macro layer, and the launch plan
// that turns a rewritten decoder graph into an ordered list of kernel
// dispatches (kernel, grid, threadgroup size, buffer bindings, packed
// parameters) with its buffers laid out in one arena. The plan is plain Go
// and runs (and is tested) without a GPU; the runtimes only bind buffers and
// issue the dispatches.
package gpu
