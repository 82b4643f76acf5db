package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// visits runs parallelFor and counts how often each index was covered.
func visits(threads, n, grain int) []int32 {
	hits := make([]int32, n)
	parallelFor(threads, n, grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			atomic.AddInt32(&hits[i], 1)
		}
	})
	return hits
}

func TestParallelForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 7, 64, 1000, 4097} {
			for _, grain := range []int{0, 1, 5, 32, 5000} {
				for i, h := range visits(threads, n, grain) {
					if h != 1 {
						t.Fatalf("threads %d, n %d, grain %d: index %d covered %d times", threads, n, grain, i, h)
					}
				}
			}
		}
	}
}

func TestParallelOwnedCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		for _, n := range []int{0, 1, 2, 7, 64, 1000, 4097} {
			for _, piece := range []int{0, 1, 5, 32, 5000} {
				hits := make([]int32, n)
				parallelOwned(threads, n, piece, func(lo, hi int) {
					if hi-lo > max(piece, 1) && hi-lo < n {
						t.Errorf("piece [%d, %d) longer than %d", lo, hi, piece)
					}
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				}, nil)
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads %d, n %d, piece %d: index %d covered %d times", threads, n, piece, i, h)
					}
				}
			}
		}
	}
}

// A goroutine stuck in its first piece must not hold up the rest of its
// share: the others take it from the end. Without that, this deadlocks.
func TestParallelOwnedStealsFromAStuckShare(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one goroutine runs the whole range as one piece")
	}
	const n = 64
	var done atomic.Int32
	parallelOwned(4, n, 1, func(lo, hi int) {
		if lo == 0 {
			deadline := time.Now().Add(10 * time.Second)
			for done.Load() < n-1 {
				if time.Now().After(deadline) {
					t.Errorf("stuck in piece 0 while %d of the other %d pieces ran", done.Load(), n-1)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
		done.Add(1)
	}, nil)
	if done.Load() != n {
		t.Fatalf("%d of %d pieces ran", done.Load(), n)
	}
}

func TestParallelForRepanicsInCaller(t *testing.T) {
	for round := 0; round < 3; round++ {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Fatalf("recovered %v, want boom", r)
				}
			}()
			parallelFor(4, 1000, 1, func(lo, hi int) {
				if lo <= 500 && 500 < hi {
					panic("boom")
				}
			})
			t.Fatal("no panic")
		}()
		// The pool stays usable after a chunk panicked.
		for i, h := range visits(4, 1000, 1) {
			if h != 1 {
				t.Fatalf("after panic: index %d covered %d times", i, h)
			}
		}
	}
}

// Regions started from many goroutines at once, and regions nested in
// regions, fall back to goroutines when the pool is busy: all complete.
func TestParallelForConcurrentAndNested(t *testing.T) {
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				parallelFor(2, 16, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						parallelFor(2, 10, 1, func(lo, hi int) { total.Add(int64(hi - lo)) })
					}
				})
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("parallel regions did not finish (deadlock?)")
	}
	if got, want := total.Load(), int64(8*50*16*10); got != want {
		t.Fatalf("covered %d items, want %d", got, want)
	}
}

// A worker that parked after spinning wakes for the next region.
func TestParallelForAfterIdle(t *testing.T) {
	visits(2, 100, 1)
	time.Sleep(3 * spinFor)
	for i, h := range visits(2, 100, 1) {
		if h != 1 {
			t.Fatalf("after idle: index %d covered %d times", i, h)
		}
	}
}

// BenchmarkParallelRegion is the fork and join of an empty one-token
// product region (four pieces per thread): the fixed cost every parallel
// region pays before and after its work.
func BenchmarkParallelRegion(b *testing.B) {
	threads := runtime.GOMAXPROCS(0)
	for _, mode := range []string{"owned", "for"} {
		b.Run(fmt.Sprintf("%s/threads=%d", mode, threads), func(b *testing.B) {
			const n = 4096
			piece := n / (4 * threads)
			for b.Loop() {
				if mode == "owned" {
					parallelOwned(threads, n, piece, func(lo, hi int) {}, nil)
				} else {
					parallelFor(threads, n, piece, func(lo, hi int) {})
				}
			}
		})
	}
}

// ownedShare, which the workers' prefetch of their next share uses, must
// give the rows newJob gives that participant.
func TestOwnedShareMatchesJob(t *testing.T) {
	for _, threads := range []int{2, 3, 4, 16} {
		for _, n := range []int{1, 7, 100, 1024, 4096, 151936} {
			for _, piece := range []int{1, 16, 64, 128, 5000} {
				chunks := (n + piece - 1) / piece
				j := newJob(threads, n, chunks, piece, func(lo, hi int) {}, nil)
				for id := 0; id < threads; id++ {
					lo, hi := ownedShare(n, piece, threads, id)
					var wlo, whi int
					if id < len(j.slots) {
						v := j.slots[id].share.Load()
						c0, c1 := int(v>>32), int(v&0xffffffff)
						wlo, whi = min(n, c0*piece), min(n, c1*piece)
					}
					if lo != wlo || hi != whi {
						t.Fatalf("n %d piece %d threads %d id %d: ownedShare [%d, %d), job [%d, %d)", n, piece, threads, id, lo, hi, wlo, whi)
					}
				}
			}
		}
	}
}

// A region's after hook runs at most once on each pool worker, and only
// there: the caller goes on at once. Chunks that sleep give worker 1 time
// to join (a worker that never joins, say descheduled, runs no hook, so
// the test asks only that it joined in some of the rounds: at least 20,
// more until it has, at most 200).
func TestParallelAfterRunsOnWorkers(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs a pool worker")
	}
	var calls [2]atomic.Int32
	joined := 0
	for round := 0; round < 200 && (round < 20 || joined == 0); round++ {
		calls[0].Store(0)
		calls[1].Store(0)
		parallelOwned(2, 100, 10, func(lo, hi int) { time.Sleep(200 * time.Microsecond) }, func(id int) { calls[id].Add(1) })
		// Worker 1 runs its hook after its last chunk, maybe after the
		// caller returned.
		deadline := time.Now().Add(20 * time.Millisecond)
		for calls[1].Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if calls[0].Load() != 0 || calls[1].Load() > 1 {
			t.Fatalf("round %d: after ran %d times on the caller, %d on worker 1", round, calls[0].Load(), calls[1].Load())
		}
		joined += int(calls[1].Load())
	}
	if joined == 0 {
		t.Fatal("worker 1 never ran the hook in 200 regions of 2 ms")
	}
}

// forShare, which the workers' prefetch of attention heads uses, must give
// the range newJob gives that participant in a parallelFor region.
func TestForShareMatchesJob(t *testing.T) {
	for _, threads := range []int{2, 3, 4, 16} {
		for _, n := range []int{1, 2, 7, 8, 16, 100, 4096} {
			for _, grain := range []int{1, 2, 5, 64} {
				var chunks int
				if threads > 1 && n >= 2*grain {
					chunks = min(n/grain, 4*threads)
				}
				var j *job
				if chunks > 0 {
					j = newJob(threads, n, chunks, 0, func(lo, hi int) {}, nil)
				}
				for id := 0; id < threads; id++ {
					lo, hi := forShare(n, grain, threads, id)
					var wlo, whi int
					if j != nil && id < len(j.slots) {
						v := j.slots[id].share.Load()
						c0, c1 := int(v>>32), int(v&0xffffffff)
						wlo, whi = n*c0/chunks, n*c1/chunks
					}
					if lo != wlo || hi != whi {
						t.Fatalf("n %d grain %d threads %d id %d: forShare [%d, %d), job [%d, %d)", n, grain, threads, id, lo, hi, wlo, whi)
					}
				}
			}
		}
	}
}
