package cpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapHugeRegion maps n bytes of zeroed anonymous memory, starting on a
// 2 MiB boundary, and asks for transparent huge pages (honoured when THP
// is "always" or "madvise"). The function it returns unmaps the region;
// nothing may touch the memory after. If mapping fails it falls back to
// the Go heap.
func mapHugeRegion(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n), func() {}
	}
	off := -int(uintptr(unsafe.Pointer(&b[0]))) & (hugePage - 1)
	r := b[off : off+n : off+n]
	_ = unix.Madvise(r, unix.MADV_HUGEPAGE) // advice only: small pages work too
	return r, func() { _ = unix.Munmap(b) }
}
