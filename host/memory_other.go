//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package host

import "github.com/tetratelabs/wazero/experimental"

func newMemory(capacity, max uint64) experimental.LinearMemory {
	return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
}
