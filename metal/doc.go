// Package metal is the Metal runtime for Apple Silicon: Go without cgo,
// through purego and its objc package. It compiles the shared kernel source
// of package gpu as Metal Shading Language at run time
// (newLibraryWithSource:options:error:, once per process), makes one compute
// pipeline per kernel, keeps weights, KV caches and activations in
// shared-storage MTLBuffers (unified memory: uploads and read-backs are
// memcpy), and encodes each forward call's dispatches, in plan order, into
// one command buffer.
//
// The graph analysis, launch plans and sessions are package gpu's, shared
// with the CUDA runtime; this package is only the device layer (gpu.Device).
// On other systems, or without a Metal device, Open returns an error.
package metal

import "github.com/graphpass/graphpass/gpu"

// NewRuntime opens the default Metal device and returns the Metal
// backend.Runtime.
func NewRuntime() (*gpu.Runtime, error) {
	d, err := Open()
	if err != nil {
		return nil, err
	}
	return gpu.NewRuntime(d, d.compileMillis), nil
}
