//go:build !linux

package cpu

// allocStreamRegion allocates n bytes on the Go heap.
func allocStreamRegion(n int) ([]byte, func()) { return make([]byte, n), func() {} }

func dropMappedPages([]byte) {}
