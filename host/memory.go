package host

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator backs pass memories. wazero's default grows a Go slice by
// copying, which makes a pass that grows to hundreds of MiB spend seconds
// copying; where the OS allows, memories are instead reserved once as
// virtual memory (pages appear on first touch, never move, and go back to
// the OS when the instance closes). See memory_mmap.go.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(newMemory)

// sliceMemory is the portable fallback: a Go slice grown geometrically.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	newCap := min(max(size, 2*uint64(cap(m.buf))), m.max)
	b := make([]byte, size, newCap)
	copy(b, m.buf)
	m.buf = b
	return b
}

func (m *sliceMemory) Free() { m.buf = nil }
