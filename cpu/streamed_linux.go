package cpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocStreamRegion maps n bytes of anonymous memory and asks for
// transparent huge pages (honoured when THP is "always" or "madvise").
func allocStreamRegion(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n), func() {}
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice only: without THP the copy still runs in order
	return b, func() { _ = unix.Munmap(b) }
}

// dropMappedPages tells the kernel that the whole pages inside b, a slice
// of a read-only file mapping, are not needed now.
func dropMappedPages(b []byte) {
	page := uintptr(unix.Getpagesize())
	if len(b) == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(&b[0]))
	lo, hi := (start+page-1)&^(page-1), (start+uintptr(len(b)))&^(page-1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED)
}
