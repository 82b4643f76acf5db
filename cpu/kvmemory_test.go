package cpu

import (
	"testing"
	"unsafe"
)

// Buffers come out zeroed, 64-byte aligned and disjoint, across regions
// (sizes that do not fit the rest of a region, and one larger than a
// region), and release unmaps them all.
func TestKVMemoryBuffers(t *testing.T) {
	m := new(kvMemory)
	sizes := []int{1, 16, 1000, kvRegionBytes/4 - 3, 5, kvRegionBytes/2 + 1, 7, 0, 33}
	var bufs [][]float32
	for i, n := range sizes {
		b := m.floats(n)
		if len(b) != n {
			t.Fatalf("floats(%d) has %d", n, len(b))
		}
		if n > 0 && uintptr(unsafe.Pointer(&b[0]))%64 != 0 {
			t.Fatalf("floats(%d) at %p, not 64-byte aligned", n, &b[0])
		}
		for j, v := range b {
			if v != 0 {
				t.Fatalf("floats(%d)[%d] = %g, want 0", n, j, v)
			}
		}
		for j := range b {
			b[j] = float32(i + 1)
		}
		bufs = append(bufs, b)
	}
	for i, b := range bufs {
		for j, v := range b {
			if v != float32(i+1) {
				t.Fatalf("buffer %d [%d] = %g: overwritten by another buffer", i, j, v)
			}
		}
	}
	if len(m.unmap) < 2 {
		t.Fatalf("%d regions for %d MiB of buffers", len(m.unmap), 4*(kvRegionBytes/4+kvRegionBytes/2)>>20)
	}
	m.release()
	if m.unmap != nil || m.tail != nil {
		t.Fatal("release left regions")
	}
}

// A released cache empties and, used again, starts over in new memory.
func TestCacheReleaseThenReuse(t *testing.T) {
	c := newCache(8)
	k, v := randF32(1, -1, 1, 1, 2, 3, 4), randF32(2, -1, 1, 1, 2, 3, 4)
	for round := 0; round < 2; round++ {
		l, err := c.append(0, k, v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() != 3 || l.k[l.cap*4+5] != k.F32()[3*4+5] {
			t.Fatalf("round %d: %d positions, head 1 key %g, want 3 and %g", round, c.Len(), l.k[l.cap*4+5], k.F32()[3*4+5])
		}
		c.release()
		if c.Len() != 0 || c.Bytes() != 0 {
			t.Fatalf("round %d: released cache holds %d positions, %d bytes", round, c.Len(), c.Bytes())
		}
	}
	var none *Cache
	none.release() // a program without a cache closes too
}
