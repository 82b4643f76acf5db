package quant

import (
	"sync"
	"unsafe"
)

// A runtime that splits one product over goroutines calls MatVecRows or
// MatMulRows once per row range with the same x, and the q/k/v (or
// gate/up) projections of a token read the same x too. Encoding x costs
// O(batch·Cols), as much as a few dozen rows of the product, so prepared
// inputs are kept in a small cache keyed by the matrix layout and x's
// contents (compared in full, so a reused buffer holding new values is a
// miss, never a stale hit).

const prepSlots = 8

// prepBudget bounds the bytes the cache keeps beyond the entry just made:
// prefill batches are large, and old ones are dropped first.
const prepBudget = 64 << 20

type prepEntry struct {
	cols, bits, group, batch int
	kernel                   string
	x                        []float32 // private copy of the input
	vecs                     []Vec     // one per batch row
	refs                     int       // callers using vecs (under prepMu)
	stale                    bool      // evicted: recycle when refs drops to 0
	ready                    sync.Mutex
	prepared                 int // cache hits served (under ready)
}

var (
	prepMu   sync.Mutex
	prepRing [prepSlots]*prepEntry
	prepNext int
	prepFree []*prepEntry
)

// acquirePrepared returns prepared vectors for the batch rows of x,
// preparing them unless an equal input was prepared recently. The caller
// must release the entry.
func acquirePrepared(x []float32, batch int, m *Matrix) *prepEntry {
	kernel := kernelFor(m)
	prepMu.Lock()
	for _, e := range prepRing {
		if e != nil && e.cols == m.Cols && e.bits == m.Bits && e.group == m.GroupSize &&
			e.batch == batch && e.kernel == kernel && sameFloats(e.x, x) {
			e.refs++
			prepMu.Unlock()
			e.waitReady()
			return e
		}
	}
	var e *prepEntry
	if n := len(prepFree); n > 0 {
		e, prepFree = prepFree[n-1], prepFree[:n-1]
	} else {
		e = new(prepEntry)
	}
	e.cols, e.bits, e.group, e.batch, e.kernel = m.Cols, m.Bits, m.GroupSize, batch, kernel
	e.x = append(e.x[:0], x...)
	e.refs, e.stale = 1, false
	e.ready.Lock()
	evict(prepNext)
	prepRing[prepNext] = e
	prepNext = (prepNext + 1) % prepSlots
	// Keep the other entries within the budget, oldest out first.
	held := int64(0)
	for i := 1; i < prepSlots; i++ {
		slot := (prepNext - 1 - i + 2*prepSlots) % prepSlots
		if o := prepRing[slot]; o != nil {
			if held += o.size(); held > prepBudget {
				evict(slot)
			}
		}
	}
	prepMu.Unlock()

	if cap(e.vecs) < batch {
		e.vecs = make([]Vec, batch)
	}
	e.vecs = e.vecs[:batch]
	for b := range e.vecs {
		e.vecs[b].Prepare(e.x[b*m.Cols:(b+1)*m.Cols], m)
	}
	e.ready.Unlock()
	return e
}

// evict drops the entry in slot (under prepMu); it is recycled once no
// caller uses it, its buffers kept only if small.
func evict(slot int) {
	old := prepRing[slot]
	if old == nil {
		return
	}
	prepRing[slot] = nil
	old.stale = true
	if old.refs == 0 {
		recycle(old)
	}
}

func recycle(e *prepEntry) {
	if e.size() > prepBudget/8 {
		e.x, e.vecs = nil, nil
	}
	prepFree = append(prepFree, e)
}

// size approximates the bytes e holds.
func (e *prepEntry) size() int64 { return int64(cap(e.x)) * 9 } // x, xd (3 B), xp or buffers

// waitReady blocks until whoever inserted e has prepared it (the inserter
// holds e.ready until then).
func (e *prepEntry) waitReady() {
	e.ready.Lock()
	defer e.ready.Unlock()
	e.prepared++ // under e.ready: counts hits, and keeps the section non-empty
}

func (e *prepEntry) release() {
	prepMu.Lock()
	e.refs--
	if e.stale && e.refs == 0 {
		recycle(e)
	}
	prepMu.Unlock()
}

// sameFloats compares bit patterns (so NaNs match themselves).
func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	ab := unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a))
	bb := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b))
	return string(ab) == string(bb)
}
