//go:build darwin && arm64

package metal

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// This file is the whole Objective-C surface of the runtime: every message
// it sends goes through one of the typed wrappers below, each named after
// the shape of its arguments, so each call site can be read against
// Apple's declaration (REVIEW.md does, selector by selector).
//
// All calls go to objc_msgSend through purego.SyscallN, which passes
// integer-class arguments in x0..x7 and returns x0. That covers ids, SELs,
// pointers, NSUInteger/NSInteger and BOOL. Structs are passed as AAPCS64
// passes them: MTLSize (24 bytes) as a pointer to a caller-owned copy,
// NSRange (16 bytes, two NSUInteger) in two consecutive registers. No
// method used here takes or returns a float or a struct in registers.

const (
	objcPath         = "/usr/lib/libobjc.A.dylib"
	foundationPath   = "/System/Library/Frameworks/Foundation.framework/Foundation"
	metalPath        = "/System/Library/Frameworks/Metal.framework/Metal"
	coreGraphicsPath = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
)

var (
	loadOnce sync.Once
	loadErr  error

	msgSendFn            uintptr // objc_msgSend
	createDefaultDevice  uintptr // MTLCreateSystemDefaultDevice
	copyAllDevices       uintptr // MTLCopyAllDevices
	clsNSAutoreleasePool uintptr
	clsNSString          uintptr
	clsMTLCompileOptions uintptr

	selAlloc, selInit, selRelease, selRetain, selDrain, selRespondsToSelector uintptr
	selInitWithBytesLengthEncoding, selUTF8String, selLocalizedDescription    uintptr
	selCount, selObjectAtIndex                                                uintptr
	selName, selSupportsFamily, selMaxBufferLength, selNewCommandQueue        uintptr
	selNewLibraryWithSourceOptionsError, selNewFunctionWithName               uintptr
	selNewComputePipelineStateWithFunctionError                               uintptr
	selMaxTotalThreadsPerThreadgroup, selThreadExecutionWidth                 uintptr
	selSetLanguageVersion, selSetMathMode, selSetMathFloatingPointFunctions   uintptr
	selSetFastMathEnabled                                                     uintptr
	selNewBufferWithLengthOptions, selNewBufferWithBytesNoCopy, selContents   uintptr
	selCommandBuffer, selComputeCommandEncoder, selSetComputePipelineState    uintptr
	selSetBuffersOffsetsWithRange, selSetBytesLengthAtIndex                   uintptr
	selDispatchThreadgroups, selEndEncoding, selCommit                        uintptr
	selWaitUntilCompleted, selStatus, selError                                uintptr
)

// load opens the frameworks and resolves every symbol, selector and class.
func load() error {
	loadOnce.Do(func() { loadErr = loadRuntime() })
	return loadErr
}

func loadRuntime() error {
	lobjc, err := purego.Dlopen(objcPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("metal: loading %s: %w", objcPath, err)
	}
	if msgSendFn, err = purego.Dlsym(lobjc, "objc_msgSend"); err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	// Foundation defines NSString and NSAutoreleasePool. Apple's
	// MTLCreateSystemDefaultDevice documentation: a macOS command-line
	// tool must link CoreGraphics for the system to provide a default
	// device; loading it is best effort (MTLCopyAllDevices is the fallback).
	if _, err := purego.Dlopen(foundationPath, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
		return fmt.Errorf("metal: loading Foundation: %w", err)
	}
	_, _ = purego.Dlopen(coreGraphicsPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	lmetal, err := purego.Dlopen(metalPath, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("metal: loading Metal.framework: %w", err)
	}
	if createDefaultDevice, err = purego.Dlsym(lmetal, "MTLCreateSystemDefaultDevice"); err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	if copyAllDevices, err = purego.Dlsym(lmetal, "MTLCopyAllDevices"); err != nil {
		return fmt.Errorf("metal: %w", err)
	}
	for _, c := range []struct {
		p    *uintptr
		name string
	}{{&clsNSAutoreleasePool, "NSAutoreleasePool"}, {&clsNSString, "NSString"}, {&clsMTLCompileOptions, "MTLCompileOptions"}} {
		if *c.p = uintptr(objc.GetClass(c.name)); *c.p == 0 {
			return fmt.Errorf("metal: Objective-C class %s not found", c.name)
		}
	}
	for _, s := range []struct {
		p    *uintptr
		name string
	}{
		{&selAlloc, "alloc"}, {&selInit, "init"}, {&selRelease, "release"}, {&selRetain, "retain"},
		{&selDrain, "drain"}, {&selRespondsToSelector, "respondsToSelector:"},
		{&selInitWithBytesLengthEncoding, "initWithBytes:length:encoding:"},
		{&selUTF8String, "UTF8String"}, {&selLocalizedDescription, "localizedDescription"},
		{&selCount, "count"}, {&selObjectAtIndex, "objectAtIndex:"},
		{&selName, "name"}, {&selSupportsFamily, "supportsFamily:"}, {&selMaxBufferLength, "maxBufferLength"},
		{&selNewCommandQueue, "newCommandQueue"},
		{&selNewLibraryWithSourceOptionsError, "newLibraryWithSource:options:error:"},
		{&selNewFunctionWithName, "newFunctionWithName:"},
		{&selNewComputePipelineStateWithFunctionError, "newComputePipelineStateWithFunction:error:"},
		{&selMaxTotalThreadsPerThreadgroup, "maxTotalThreadsPerThreadgroup"},
		{&selThreadExecutionWidth, "threadExecutionWidth"},
		{&selSetLanguageVersion, "setLanguageVersion:"}, {&selSetMathMode, "setMathMode:"},
		{&selSetMathFloatingPointFunctions, "setMathFloatingPointFunctions:"},
		{&selSetFastMathEnabled, "setFastMathEnabled:"},
		{&selNewBufferWithLengthOptions, "newBufferWithLength:options:"},
		{&selNewBufferWithBytesNoCopy, "newBufferWithBytesNoCopy:length:options:deallocator:"},
		{&selContents, "contents"},
		{&selCommandBuffer, "commandBuffer"}, {&selComputeCommandEncoder, "computeCommandEncoder"},
		{&selSetComputePipelineState, "setComputePipelineState:"},
		{&selSetBuffersOffsetsWithRange, "setBuffers:offsets:withRange:"},
		{&selSetBytesLengthAtIndex, "setBytes:length:atIndex:"},
		{&selDispatchThreadgroups, "dispatchThreadgroups:threadsPerThreadgroup:"},
		{&selEndEncoding, "endEncoding"}, {&selCommit, "commit"},
		{&selWaitUntilCompleted, "waitUntilCompleted"}, {&selStatus, "status"}, {&selError, "error"},
	} {
		*s.p = uintptr(objc.RegisterName(s.name))
	}
	return nil
}

// callC calls a C function of no arguments that returns a pointer.
func callC(fn uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn)
	return r
}

// send sends a message whose arguments are all integer-class values
// (ids, SELs, NSUInteger, NSInteger, BOOL as 0/1) and returns x0.
func send(obj, sel uintptr, args ...uintptr) uintptr {
	var a [6]uintptr
	a[0], a[1] = obj, sel
	n := 2 + copy(a[2:], args)
	r, _, _ := purego.SyscallN(msgSendFn, a[:n]...)
	return r
}

// sendBool is send for methods returning BOOL (bool on arm64: only the
// low byte of w0 is defined).
func sendBool(obj, sel uintptr, args ...uintptr) bool { return send(obj, sel, args...)&0xff != 0 }

// The pointer-taking shapes convert unsafe.Pointer to uintptr inside the
// SyscallN call, where go:uintptrescapes keeps the memory alive and fixed.

// - (instancetype)initWithBytes:(const void *)bytes length:(NSUInteger)len encoding:(NSStringEncoding)encoding
// - (void)setBytes:(const void *)bytes length:(NSUInteger)length atIndex:(NSUInteger)index
func sendPtrUintUint(obj, sel uintptr, p unsafe.Pointer, a, b uintptr) uintptr {
	r, _, _ := purego.SyscallN(msgSendFn, obj, sel, uintptr(p), a, b)
	return r
}

// - (id<MTLBuffer>)newBufferWithBytesNoCopy:(void *)pointer length:(NSUInteger)length
// options:(MTLResourceOptions)options deallocator:(void (^)(void *pointer, NSUInteger length))deallocator
func sendPtrUintUintID(obj, sel uintptr, p unsafe.Pointer, a, b, c uintptr) uintptr {
	r, _, _ := purego.SyscallN(msgSendFn, obj, sel, uintptr(p), a, b, c)
	return r
}

// - (id<MTLComputePipelineState>)newComputePipelineStateWithFunction:(id<MTLFunction>)f error:(NSError **)error
func sendIDErr(obj, sel, a uintptr, errp *uintptr) uintptr {
	r, _, _ := purego.SyscallN(msgSendFn, obj, sel, a, uintptr(unsafe.Pointer(errp)))
	return r
}

// - (id<MTLLibrary>)newLibraryWithSource:(NSString *)source options:(MTLCompileOptions *)options error:(NSError **)error
func sendIDIDErr(obj, sel, a, b uintptr, errp *uintptr) uintptr {
	r, _, _ := purego.SyscallN(msgSendFn, obj, sel, a, b, uintptr(unsafe.Pointer(errp)))
	return r
}

// - (void)setBuffers:(const id<MTLBuffer> [])buffers offsets:(const NSUInteger [])offsets withRange:(NSRange)range
// NSRange {location, length} is two NSUInteger: x4, x5.
func sendPtrPtrRange(obj, sel uintptr, p, q unsafe.Pointer, location, length uintptr) {
	purego.SyscallN(msgSendFn, obj, sel, uintptr(p), uintptr(q), location, length)
}

// - (void)dispatchThreadgroups:(MTLSize)threadgroupsPerGrid threadsPerThreadgroup:(MTLSize)threadsPerThreadgroup
// Each MTLSize is larger than 16 bytes, so AAPCS64 passes a pointer to a
// caller-owned copy; grid and threads are this function's own copies.
func sendSizeSize(obj, sel uintptr, grid, threads mtlSize) {
	purego.SyscallN(msgSendFn, obj, sel, uintptr(unsafe.Pointer(&grid)), uintptr(unsafe.Pointer(&threads)))
}

// pointerAt turns an address returned by a C call into a pointer.
func pointerAt(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// goStringAt copies the NUL-terminated string at p.
func goStringAt(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// nsString returns a new NSString (+1: release it) holding s.
func nsString(s string) uintptr {
	str := send(clsNSString, selAlloc)
	b := []byte(s)
	if len(b) == 0 {
		return send(str, selInit)
	}
	return sendPtrUintUint(str, selInitWithBytesLengthEncoding, unsafe.Pointer(&b[0]), uintptr(len(b)), utf8StringEncoding)
}

// goString copies an NSString's UTF-8 text (valid inside the current pool).
func goString(ns uintptr) string {
	if ns == 0 {
		return ""
	}
	return goStringAt(pointerAt(send(ns, selUTF8String)))
}

// errorText is an NSError's localizedDescription; for Metal's compiler
// errors that is the compiler's log.
func errorText(nserr uintptr) string {
	if nserr == 0 {
		return "no error description"
	}
	return goString(send(nserr, selLocalizedDescription))
}

func release(obj uintptr) {
	if obj != 0 {
		send(obj, selRelease)
	}
}

// withPool runs f inside an autorelease pool on one OS thread: a pool
// belongs to the thread that made it and must be drained there, and
// goroutines move between threads.
func withPool(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pool := send(send(clsNSAutoreleasePool, selAlloc), selInit)
	defer send(pool, selDrain)
	return f()
}

// objcEncoder is an id<MTLComputeCommandEncoder>.
type objcEncoder uintptr

// - (void)setComputePipelineState:(id<MTLComputePipelineState>)state
func (e objcEncoder) setComputePipelineState(p uintptr) {
	send(uintptr(e), selSetComputePipelineState, p)
}

func (e objcEncoder) setBuffers(buffers []uintptr, offsets []uint64) {
	sendPtrPtrRange(uintptr(e), selSetBuffersOffsetsWithRange,
		unsafe.Pointer(unsafe.SliceData(buffers)), unsafe.Pointer(unsafe.SliceData(offsets)), 0, uintptr(len(buffers)))
}

func (e objcEncoder) setBytes(b []byte, index int) {
	sendPtrUintUint(uintptr(e), selSetBytesLengthAtIndex, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)), uintptr(index))
}

func (e objcEncoder) dispatchThreadgroups(grid, threads mtlSize) {
	sendSizeSize(uintptr(e), selDispatchThreadgroups, grid, threads)
}
