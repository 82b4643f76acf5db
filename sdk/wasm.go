//go:build wasip1

package sdk

import (
	"runtime/debug"
	"unsafe"

	"github.com/graphpass/graphpass/abi"
)

// The ABI v1 exports. Buffers handed to the host stay referenced here
// until the next call, which is what the ABI promises.
var (
	requestBuf  []byte //lint:ignore U1000 used by the exports, which staticcheck does not see
	responseBuf []byte //lint:ignore U1000 keeps the response alive until the next call
)

// GC tuning of a module's Go runtime. An instance lives for one call, so
// collecting garbage is mostly wasted work: a pass over a 28-layer graph
// allocates a few MiB, and with the default GOGC of 100 the collector runs
// (single-threaded, inside the call) as soon as the heap passes 4 MiB.
// GOGC=400 defers it to 16 MiB and then to five times the live heap; the
// soft limit makes it collect harder long before the host's default memory
// limit (256 MiB), so that a huge graph still fits where it did.
const (
	guestGCPercent  = 400
	guestSoftMemory = 128 << 20
)

func init() {
	debug.SetGCPercent(guestGCPercent)
	debug.SetMemoryLimit(guestSoftMemory)
	logSink = func(level int, msg string) {
		if msg == "" {
			return
		}
		b := []byte(msg)
		hostLog(int32(level), addr(b), int32(len(b)))
	}
}

//go:wasmimport graphpass log
func hostLog(level, ptr, size int32)

//go:wasmexport graphpass_abi_v1
//lint:ignore U1000 called by the host (an export) or by one
func exportMarkerV1() {}

//go:wasmexport graphpass_alloc
//lint:ignore U1000 called by the host (an export) or by one
func exportAlloc(size int32) int32 {
	if size <= 0 {
		requestBuf = make([]byte, 1)
		return addr(requestBuf)
	}
	requestBuf = make([]byte, size)
	return addr(requestBuf)
}

//go:wasmexport graphpass_info
//lint:ignore U1000 called by the host (an export) or by one
func exportInfo() int64 {
	p := registered
	if p == nil {
		p = &Pass{Name: "unregistered", Description: "module never called sdk.Main"}
	}
	return hand(abi.EncodePassInfo(p.PassInfo()))
}

//go:wasmexport graphpass_run
//lint:ignore U1000 called by the host (an export) or by one
func exportRun(ptr, size int32) int64 {
	var resp *abi.RunResponse
	switch {
	case registered == nil:
		resp = &abi.RunResponse{Error: &abi.PassError{Code: CodePanic, Message: "module never called sdk.Main"}}
	case len(requestBuf) == 0 || ptr != addr(requestBuf) || size < 0 || int(size) > len(requestBuf):
		// The request must sit in the buffer graphpass_alloc handed out.
		resp = &abi.RunResponse{Error: &abi.PassError{Code: CodeInvalidGraph,
			Message: "graphpass_run: request is not in the buffer from graphpass_alloc"}}
	default:
		req, err := abi.DecodeRunRequest(requestBuf[:size])
		if err != nil {
			resp = &abi.RunResponse{Error: &abi.PassError{Code: CodeInvalidGraph, Message: "decoding the request: " + err.Error()}}
		} else {
			resp = registered.Serve(req)
		}
	}
	requestBuf = nil // the request is consumed; let the GC have it
	return hand(abi.EncodeRunResponse(resp))
}

// addr is the linear-memory address of b's first byte.
func addr(b []byte) int32 { return int32(uintptr(unsafe.Pointer(&b[0]))) }

// hand keeps b alive until the next call and returns ptr<<32 | len.
//
//lint:ignore U1000 called by the host (an export) or by one
func hand(b []byte) int64 {
	responseBuf = b
	if len(b) == 0 {
		return 0
	}
	return int64(addr(b))<<32 | int64(len(b))
}
