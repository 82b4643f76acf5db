//go:build !linux

package cpu

// Elsewhere the weights stay mapped: the copy's gain was measured with
// Linux's transparent huge pages, which other systems do not offer this way.
const copyStreamed = false

func dropMappedPages([]byte) {}

func availableMemory() int64 { return 0 }
