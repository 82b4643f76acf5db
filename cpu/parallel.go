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
	j.start(threads)
}

// parallelOwned runs fn over [0, n) in pieces of piece items (the last
// may be shorter) on up to threads goroutines, the calling one included.
// Each goroutine owns a contiguous share of the pieces and runs it front
// to back, one stream that its prefetches cover, as a static split would;
// one that finishes its share takes pieces from the far ends of the
// others'. A core that is slow, or whose goroutine starts late or never
// (a descheduled vCPU on a shared host), then costs the pieces it has not
// reached, not the whole region. On one goroutine fn runs once, over
// [0, n).
func parallelOwned(threads, n, piece int, fn func(lo, hi int)) {
	piece = max(piece, 1)
	chunks := (n + piece - 1) / piece
	threads = min(threads, chunks, runtime.GOMAXPROCS(0))
	if threads <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	j := &job{fn: fn, n: n, chunks: int32(chunks), piece: piece, shares: make([]atomic.Uint64, threads)}
	for r := range j.shares {
		lo, hi := uint64(chunks*r/threads), uint64(chunks*(r+1)/threads)
		j.shares[r].Store(lo<<32 | hi)
	}
	j.start(threads)
}

// start runs j on the pool (or on new goroutines when the pool is busy)
// and re-raises a panic of fn.
func (j *job) start(threads int) {
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

// job is one parallel region of chunks: chunk i covers
// [n·i/chunks, n·(i+1)/chunks), or with piece > 0 [piece·i, piece·(i+1)),
// cut at n.
type job struct {
	fn     func(lo, hi int)
	n      int
	chunks int32
	next   atomic.Int32 // next chunk to claim
	done   atomic.Int32 // chunks finished
	mu     sync.Mutex
	crash  any

	// Owned shares (parallelOwned): share r holds its next chunk from
	// the front in the high half and its end in the low half; owners take
	// from the front, others from the end, each by compare-and-swap.
	piece  int
	shares []atomic.Uint64
	joined atomic.Int32 // goroutines that have joined: the next one owns share joined
}

// work claims and runs chunks until none are left.
func (j *job) work() {
	if j.shares != nil {
		j.workShares()
		return
	}
	for {
		i := j.next.Add(1) - 1
		if i >= j.chunks {
			return
		}
		j.runChunk(int(i))
		j.done.Add(1)
	}
}

// workShares runs the caller's own share front to back, then takes
// chunks from the ends of the others' shares until every share is empty.
func (j *job) workShares() {
	id := int(j.joined.Add(1) - 1)
	if id < len(j.shares) {
		for j.take(&j.shares[id], true) {
		}
	}
	for k := 1; k < len(j.shares); k++ {
		s := &j.shares[(id+k)%len(j.shares)]
		for j.take(s, false) {
		}
	}
}

// take claims one chunk of share s, from its front or its end, and runs
// it; it reports false once the share is empty.
func (j *job) take(s *atomic.Uint64, front bool) bool {
	for {
		v := s.Load()
		next, end := v>>32, v&0xffffffff
		if next >= end {
			return false
		}
		i, w := next, (next+1)<<32|end
		if !front {
			i, w = end-1, next<<32|(end-1)
		}
		if s.CompareAndSwap(v, w) {
			j.runChunk(int(i))
			j.done.Add(1)
			return true
		}
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
	if j.piece > 0 {
		j.fn(i*j.piece, min((i+1)*j.piece, j.n))
		return
	}
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
