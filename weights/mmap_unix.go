//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package weights

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const mmapSupported = true

// mapFile maps f read-only and shared, so pages come from the page cache.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("%d bytes do not fit the address space", size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	return b, func() error { return unix.Munmap(b) }, nil
}
