package cpu

import (
	"runtime"
	"sync"
	"time"

	"github.com/graphpass/graphpass/cpu/internal/vec"
)

// MeasureReadBandwidth streams through a buffer of size bytes with threads
// goroutines (0: GOMAXPROCS) using the same vector loads as the kernels,
// reps times, and returns the best rate in bytes per second. With a buffer
// much larger than the last-level cache this is the memory bandwidth a
// memory-bound decode step can hope for. The buffer is freed on return.
func MeasureReadBandwidth(size int64, threads, reps int) float64 {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if reps < 1 {
		reps = 1
	}
	buf := make([]float32, size/4)
	for i := 0; i < len(buf); i += 1024 {
		buf[i] = 1 // touch every page before timing
	}
	chunk := (len(buf) / threads) &^ 31
	best := 0.0
	sink := make([]float32, threads)
	for r := 0; r < reps; r++ {
		start := time.Now()
		var wg sync.WaitGroup
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				sink[t] = vec.Sum(buf[t*chunk : (t+1)*chunk])
			}(t)
		}
		wg.Wait()
		if rate := float64(chunk*threads*4) / time.Since(start).Seconds(); rate > best {
			best = rate
		}
	}
	runtime.KeepAlive(sink)
	return best
}
