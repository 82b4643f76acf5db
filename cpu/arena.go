package cpu

import (
	"math/bits"
	"unsafe"

	"github.com/graphpass/graphpass/tensor"
)

// arena recycles activation buffers between the ops of a run and from one
// run to the next, so a steady decode loop allocates almost nothing.
// Buffers are reference-counted by their first byte: a view (Reshape,
// Identity ...) shares its input's buffer and holds a reference of its own.
// Tensors not made by the arena (inputs, weights) are never tracked.
type arena struct {
	free map[int][][]byte // by size class
	refs map[*byte]int32
}

func newArena() *arena { return &arena{free: map[int][][]byte{}, refs: map[*byte]int32{}} }

// sizeClass rounds n up to a power of two (at least 64 bytes).
func sizeClass(n int) int {
	if n <= 64 {
		return 64
	}
	return 1 << bits.Len(uint(n-1))
}

// maxPooled bounds the buffers kept per size class.
const maxPooled = 16

func (a *arena) alloc(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	c := sizeClass(n)
	var b []byte
	if l := a.free[c]; len(l) > 0 {
		b = l[len(l)-1]
		a.free[c] = l[:len(l)-1]
	} else {
		words := make([]uint64, c/8)
		b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), c)
	}
	a.refs[&b[0]] = 0
	return b[:n]
}

func key(t *tensor.Tensor) *byte {
	if t == nil {
		return nil
	}
	b := t.Bytes()
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// acquire adds a reference to t's buffer if the arena made it.
func (a *arena) acquire(t *tensor.Tensor) {
	if k := key(t); k != nil {
		if n, ok := a.refs[k]; ok {
			a.refs[k] = n + 1
		}
	}
}

// release drops a reference; the last one returns the buffer to the pool.
func (a *arena) release(t *tensor.Tensor) {
	k := key(t)
	if k == nil {
		return
	}
	n, ok := a.refs[k]
	if !ok {
		return
	}
	if n > 1 {
		a.refs[k] = n - 1
		return
	}
	delete(a.refs, k)
	b := t.Bytes()
	c := sizeClass(len(b))
	if cap(b) != c || len(a.free[c]) >= maxPooled {
		return
	}
	a.free[c] = append(a.free[c], b[:c])
}

// detach stops tracking t's buffer: it now belongs to the caller.
func (a *arena) detach(t *tensor.Tensor) {
	if k := key(t); k != nil {
		delete(a.refs, k)
	}
}

// recycle returns a buffer the caller got from Run (and no longer uses) to
// the pool. Buffers the arena did not make, or still tracks, are ignored.
func (a *arena) recycle(t *tensor.Tensor) {
	b := t.Bytes()
	if len(b) == 0 || cap(b) != sizeClass(len(b)) {
		return
	}
	if _, tracked := a.refs[&b[0]]; tracked {
		return
	}
	c := cap(b)
	for _, f := range a.free[c] {
		if &f[0] == &b[:1][0] {
			return // already pooled
		}
	}
	if len(a.free[c]) < maxPooled {
		a.free[c] = append(a.free[c], b[:c])
	}
}
