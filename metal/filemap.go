package metal

import (
	"fmt"
	"path/filepath"
	"sync"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
)

// fileMap is one checkpoint file mapped read-only, shared by every weight
// buffer that wraps part of it; it is unmapped when the last one is freed.
type fileMap struct {
	path string
	data []byte // the whole file; the mapping extends to the end of its last page
	refs int
}

// at returns a pointer to byte off of the mapping.
func (m *fileMap) at(off int64) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(unsafe.SliceData(m.data)), off)
}

// fileMaps maps each file once.
type fileMaps struct {
	mu    sync.Mutex
	files map[string]*fileMap
}

// acquire maps path (or takes another reference to its mapping).
func (fs *fileMaps) acquire(path string) (*fileMap, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if m := fs.files[abs]; m != nil {
		m.refs++
		return m, nil
	}
	data, err := mapReadOnly(abs)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", abs, err)
	}
	if fs.files == nil {
		fs.files = map[string]*fileMap{}
	}
	m := &fileMap{path: abs, data: data, refs: 1}
	fs.files[abs] = m
	return m, nil
}

// release drops a reference; the last one unmaps the file.
func (fs *fileMaps) release(m *fileMap) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return nil
	}
	delete(fs.files, m.path)
	data := m.data
	m.data = nil
	return unmap(data)
}

// forget drops the mapping reference a wrapped weight buffer holds.
func (fs *fileMaps) forget(b *buffer) error {
	if b == nil || b.file == nil {
		return nil
	}
	m := b.file
	b.file = nil
	return fs.release(m)
}

// mapped is the number of files mapped now.
func (fs *fileMaps) mapped() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.files)
}

// mappedWeight is a weight slot's bytes located in a mapped file: the
// page window to wrap and the mapping it lies in (one reference held).
type mappedWeight struct {
	file   *fileMap
	window window
	size   int64
}

// locateWeight maps the file behind w and returns the window to wrap, or
// nil and the reason the weight must be copied instead. page is the VM
// page size and maxLen the device's maxBufferLength.
func (fs *fileMaps) locateWeight(w *gpu.WeightSlot, page, maxLen int64) (*mappedWeight, string, error) {
	ref, why, ok := fileBacked(w)
	if !ok {
		return nil, why, nil
	}
	m, err := fs.acquire(ref.File)
	if err != nil {
		return nil, "", fmt.Errorf("weight %s: %w", w.Name, err)
	}
	win, err := pageWindow(ref.Offset, ref.Length, int64(len(m.data)), page, weightAlign)
	if err == nil && maxLen > 0 && win.Length > maxLen {
		err = fmt.Errorf("a %d-byte window exceeds the device's maxBufferLength %d", win.Length, maxLen)
	}
	if err != nil {
		if rerr := fs.release(m); rerr != nil {
			return nil, "", rerr
		}
		return nil, err.Error(), nil
	}
	return &mappedWeight{file: m, window: win, size: ref.Length}, "", nil
}
