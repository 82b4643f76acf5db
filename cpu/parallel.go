package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parallel splits [0, n) into chunks of at least grain items and runs fn
// on them with up to e.p.threads goroutines, the calling one included.
func (e *exec) parallel(n, grain int, fn func(lo, hi int)) {
	parallelFor(e.p.threads, n, grain, fn)
}

// parallelFor runs fn over [0, n) in chunks of at least grain items on up
// to threads goroutines. A panic in fn is re-raised in the caller.
//
// Decoding a token runs a few hundred parallel regions of tens of
// microseconds each. Starting a goroutine per region and waking an idle OS
// thread for it cost about 4 ms of a 30 ms Qwen3-0.6B token on two cores
// (measured), so regions run on a process-wide pool of workers that spin
// briefly between regions before they park. One region uses the pool at a
// time; a region that finds it busy (concurrent programs, or a parallel
// kernel nested in another) starts goroutines as before.
func parallelFor(threads, n, grain int, fn func(lo, hi int)) {
	grain = max(grain, 1)
	if threads <= 1 || n < 2*grain {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	// Up to four chunks per thread: a core that another process steals
	// from then costs a chunk, not half the region.
	chunks := min(n/grain, 4*threads)
	j := &job{fn: fn, n: n, chunks: int32(chunks)}
	if workers.mu.TryLock() {
		workers.run(j, threads-1)
		workers.mu.Unlock()
	} else {
		j.spawn(threads)
	}
	if j.crash != nil {
		panic(j.crash)
	}
}

// job is one parallel region: chunk i covers [n·i/chunks, n·(i+1)/chunks).
type job struct {
	fn     func(lo, hi int)
	n      int
	chunks int32
	next   atomic.Int32 // next chunk to claim
	done   atomic.Int32 // chunks finished
	mu     sync.Mutex
	crash  any
}

// work claims and runs chunks until none are left.
func (j *job) work() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.chunks {
			return
		}
		j.runChunk(int(i))
		j.done.Add(1)
	}
}

func (j *job) runChunk(i int) {
	// A kernel bug must surface in the caller (where Run turns it into
	// an error), not kill the process from a worker.
	defer func() {
		if r := recover(); r != nil {
			j.mu.Lock()
			j.crash = r
			j.mu.Unlock()
		}
	}()
	c := int(j.chunks)
	j.fn(j.n*i/c, j.n*(i+1)/c)
}

// spawn runs j on threads-1 new goroutines and the caller.
func (j *job) spawn(threads int) {
	var wg sync.WaitGroup
	for range min(threads, int(j.chunks)) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.work()
		}()
	}
	j.work()
	wg.Wait()
}

// spinFor is how long an idle worker polls for the next region before it
// parks: longer than the gaps between a token's regions (single-threaded
// ops take microseconds), short enough that an idle process sleeps.
const spinFor = 200 * time.Microsecond

// pool is the process's persistent workers. Workers start on first use and
// never exit; parked, they cost a goroutine each.
type pool struct {
	mu      sync.Mutex // held by the region using the pool
	started int        // workers started (under mu)
	// current is the region being run; gen counts regions, so a worker
	// that saw generation g waits for g+1.
	current atomic.Pointer[job]
	gen     atomic.Uint64
	// Parking: a worker that spun for spinFor without a new region
	// sleeps on wake; run broadcasts when any sleep.
	sleepMu  sync.Mutex
	wake     *sync.Cond
	sleepers atomic.Int32
}

var workers = newPool()

func newPool() *pool {
	p := &pool{}
	p.wake = sync.NewCond(&p.sleepMu)
	return p
}

// run executes j on the caller and up to helpers pool workers. The caller
// holds p.mu.
func (p *pool) run(j *job, helpers int) {
	helpers = min(helpers, int(j.chunks)-1, runtime.GOMAXPROCS(0)-1)
	for p.started < helpers {
		p.started++
		go p.worker()
	}
	if helpers > 0 {
		p.current.Store(j)
		p.gen.Add(1)
		if p.sleepers.Load() > 0 {
			p.sleepMu.Lock()
			p.wake.Broadcast()
			p.sleepMu.Unlock()
		}
	}
	j.work()
	// Wait for chunks other workers claimed. They are short; yield now and
	// then in case a worker's thread was descheduled.
	for spins := 0; j.done.Load() < j.chunks; spins++ {
		if spins&1023 == 1023 {
			runtime.Gosched()
		}
	}
	p.current.Store(nil)
}

func (p *pool) worker() {
	var seen uint64
	for {
		if g := p.gen.Load(); g != seen {
			seen = g
			if j := p.current.Load(); j != nil {
				j.work()
			}
			continue
		}
		// Spin, checking the clock every few hundred polls.
		deadline := time.Now().Add(spinFor)
		for spins := 1; p.gen.Load() == seen; spins++ {
			if spins&255 == 0 && time.Now().After(deadline) {
				p.sleepMu.Lock()
				p.sleepers.Add(1)
				for p.gen.Load() == seen {
					p.wake.Wait()
				}
				p.sleepers.Add(-1)
				p.sleepMu.Unlock()
			}
		}
	}
}
