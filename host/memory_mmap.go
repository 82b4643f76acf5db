//go:build linux || darwin || freebsd || netbsd || openbsd

package host

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// newMemory reserves max bytes of address space for a linear memory. The
// kernel backs pages lazily with zeros, so growing costs nothing and
// nothing is copied.
func newMemory(capacity, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 || uint64(int(max)) != max {
		return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
	}
	return &mmapMemory{buf: b}
}

type mmapMemory struct{ buf []byte }

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
