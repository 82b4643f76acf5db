package cpu

import (
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/graphpass/graphpass/cpu/internal/vec"
)

// MeasureReadBandwidth streams through a buffer of size bytes with threads
// goroutines (0: GOMAXPROCS) using the same vector loads as the kernels,
// reps times in each of two patterns, and returns the best rate in bytes
// per second. With a buffer much larger than the last-level cache this is
// the memory bandwidth a memory-bound decode step can hope for. The buffer
// is freed on return.
//
// The two patterns are one sequential stream per thread (vec.Sum) and four
// streams per thread with the kernels' software prefetch (vec.Sum4). On
// AMD EPYC Zen 4 they read alike; on a 16-core Intel Xeon one stream per
// thread read 23 GB/s with two threads while bf16 decode, which reads
// four weight rows at once, achieved 41 GB/s: a yardstick below what the
// kernels get would report utilizations above 1.
//
// The buffer is on huge pages where the runtime puts what decode streams
// (streamed weights, the KV cache; see mapHugeRegion): on 4 KiB pages the
// same read measured ~4% slower (EPYC Zen 4), which would flatter every
// utilization computed against it.
func MeasureReadBandwidth(size int64, threads, reps int) float64 {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if reps < 1 {
		reps = 1
	}
	if size < 4 {
		return 0
	}
	region, unmap := mapHugeRegion(int(size / 4 * 4))
	defer unmap()
	buf := unsafe.Slice((*float32)(unsafe.Pointer(&region[0])), size/4)
	for i := 0; i < len(buf); i += 1024 {
		buf[i] = 1 // touch every page before timing
	}
	chunk := (len(buf) / threads) &^ 63
	best := 0.0
	sink := make([]float32, threads)
	read := func(part []float32, streams int) float32 {
		if streams == 1 {
			return vec.Sum(part)
		}
		q := len(part) / 4
		return vec.Sum4(part[:q], part[q:2*q], part[2*q:3*q], part[3*q:])
	}
	for r := 0; r < 2*reps; r++ {
		streams := 1 + 3*(r%2)
		start := time.Now()
		var wg sync.WaitGroup
		for t := 0; t < threads; t++ {
			wg.Add(1)
			go func(t int) {
				defer wg.Done()
				sink[t] = read(buf[t*chunk:(t+1)*chunk], streams)
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
