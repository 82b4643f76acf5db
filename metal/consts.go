package metal

import "fmt"

// Values of Metal's enums and option sets the device layer passes, as
// Apple's headers define them (checked against metal-cpp's MTLResource.hpp,
// MTLLibrary.hpp, MTLCommandBuffer.hpp, MTLDevice.hpp and Apple's
// documentation; REVIEW.md lists each source).
const (
	// MTLResourceOptions: storage mode in bits 4..7, CPU cache mode in
	// bits 0..3, hazard tracking in bits 8..9.
	resourceCPUCacheModeShift        = 0
	resourceStorageModeShift         = 4
	resourceHazardTrackingModeShift  = 8
	cpuCacheModeDefaultCache         = 0 // MTLCPUCacheModeDefaultCache
	storageModeShared                = 0 // MTLStorageModeShared
	hazardTrackingModeDefault        = 0 // MTLHazardTrackingModeDefault (tracked for buffers)
	resourceStorageModeShared        = storageModeShared << resourceStorageModeShift
	resourceCPUCacheModeDefaultCache = cpuCacheModeDefaultCache << resourceCPUCacheModeShift
	resourceHazardTrackingDefault    = hazardTrackingModeDefault << resourceHazardTrackingModeShift
	// bufferOptions is every buffer's options: shared storage (unified
	// memory; the CPU reads and writes contents directly), default CPU
	// caching, Metal's hazard tracking (so serial dispatches see each
	// other's writes).
	bufferOptions = resourceStorageModeShared | resourceCPUCacheModeDefaultCache | resourceHazardTrackingDefault

	// MTLLanguageVersion2_4 = (2 << 16) + 4.
	languageVersion2_4 = 2<<16 + 4
	// MTLMathMode (NSInteger) and MTLMathFloatingPointFunctions (NSInteger),
	// macOS 15 and later; older systems take setFastMathEnabled:NO.
	mathModeSafe                      = 0
	mathFloatingPointFunctionsPrecise = 1

	// MTLGPUFamilyApple7 (A14, M1): the first family with SIMD-scoped
	// reduction operations (simd_sum, simd_max).
	gpuFamilyApple7 = 1007

	// NSUTF8StringEncoding.
	utf8StringEncoding = 4
)

// MTLCommandBufferStatus.
const (
	statusNotEnqueued = 0
	statusEnqueued    = 1
	statusCommitted   = 2
	statusScheduled   = 3
	statusCompleted   = 4
	statusError       = 5
)

func statusName(s uint64) string {
	switch s {
	case statusNotEnqueued:
		return "not enqueued"
	case statusEnqueued:
		return "enqueued"
	case statusCommitted:
		return "committed"
	case statusScheduled:
		return "scheduled"
	case statusCompleted:
		return "completed"
	case statusError:
		return "error"
	}
	return fmt.Sprintf("status(%d)", s)
}
