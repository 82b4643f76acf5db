// Package metal is the Metal runtime for Apple silicon, in Go without cgo
// (purego calls objc_msgSend and Metal.framework directly).
//
// It is only the device layer (gpu.Device): graph analysis, launch plans,
// sessions and KV-cache bookkeeping are package gpu's, shared with the
// CUDA runtime. Open compiles the shared kernel source as Metal Shading
// Language 2.4 (newLibraryWithSource:options:error:, no fast math), makes
// one compute pipeline per kernel and a command queue. Weights, KV caches
// and activations live in shared-storage MTLBuffers (unified memory:
// uploads and read-backs are copies by the CPU); a checkpoint weight whose
// bytes the kernels read as stored can instead be wrapped in place from a
// read-only mapping of its file (MapWeight). Each forward call encodes its
// dispatches, in plan order, into one serial compute encoder of one command
// buffer and waits for it.
//
// What runs on any platform, and is tested everywhere: the checks and
// encoding of a plan's dispatches (prepare, encode), the page arithmetic of
// wrapping weights (pageWindow) and the file mappings. The Objective-C
// calls themselves (objc_darwin.go) build for darwin/arm64 only and were
// reviewed against Apple's declarations: REVIEW.md.
//
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
