//go:build unix

package metal

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapReadOnly maps the whole file read-only and shared, so its pages come
// from (and stay in) the page cache.
func mapReadOnly(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	size := st.Size()
	if size == 0 {
		return nil, fmt.Errorf("empty file")
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%d bytes do not fit the address space", size)
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

func unmap(b []byte) error { return unix.Munmap(b) }
