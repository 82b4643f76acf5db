package cpu

import "sync"

// parallel splits [0, n) into at most e.p.threads contiguous chunks of at
// least grain items and runs fn on each, the last on the calling goroutine.
func (e *exec) parallel(n, grain int, fn func(lo, hi int)) {
	parallelFor(e.p.threads, n, grain, fn)
}

func parallelFor(threads, n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := n / grain
	if chunks > threads {
		chunks = threads
	}
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var crash any
	step := (n + chunks - 1) / chunks
	lo := 0
	for ; lo+step < n; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			// A kernel bug must surface in the caller (where Run turns it
			// into an error), not kill the process from a worker.
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					crash = r
					mu.Unlock()
				}
			}()
			fn(lo, hi)
		}(lo, lo+step)
	}
	fn(lo, n)
	wg.Wait()
	if crash != nil {
		panic(crash)
	}
}
