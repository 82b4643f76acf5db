package vec

import (
	"runtime"
	"sync"
	"testing"
)

// BenchmarkStreamRead reads a 256 MiB buffer with every core: the memory
// bandwidth the matvec kernels are measured against.
func BenchmarkStreamRead(b *testing.B) {
	buf := make([]float32, 64<<20)
	for i := range buf {
		buf[i] = 1
	}
	threads := runtime.GOMAXPROCS(0)
	b.SetBytes(int64(len(buf)) * 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		chunk := len(buf) / threads
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(p []float32) { defer wg.Done(); Sum(p) }(buf[t*chunk : (t+1)*chunk])
		}
		wg.Wait()
	}
}

// BenchmarkMatVecBF16 is x · Wᵀ for a bf16 [8192, 4096] weight (64 MiB,
// beyond the caches), split by rows over every core.
func BenchmarkMatVecBF16(b *testing.B) {
	const N, K = 8192, 4096
	w := make([]uint16, N*K)
	for i := range w {
		w[i] = 0x3f80
	}
	x := make([]float32, K)
	y := make([]float32, N)
	threads := runtime.GOMAXPROCS(0)
	b.SetBytes(int64(len(w)) * 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		chunk := N / threads
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(lo, hi int) {
				defer wg.Done()
				for r := lo; r < hi; r++ {
					y[r] = DotBF16(x, w[r*K:(r+1)*K])
				}
			}(t*chunk, (t+1)*chunk)
		}
		wg.Wait()
	}
}
