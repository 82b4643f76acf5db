package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// parallel splits [0, n) into chunks of at least grain items and runs fn
// on them with up to e.p.threads goroutines, the calling one included.
// During a one-token decode the pool workers then prefetch their shares
// of the next product (prefetchNext).
func (e *exec) parallel(n, grain int, fn func(lo, hi int)) {
	parallelForThen(e.p.threads, n, grain, fn, e.afterHook())
}

// parallelOwned is parallelOwned on e's threads, with the workers'
// prefetch after it as for parallel.
func (e *exec) parallelOwned(n, piece int, fn func(lo, hi int)) {
	parallelOwned(e.p.threads, n, piece, fn, e.afterHook())
}

// afterHook is what the pool workers of e's regions do once they have no
// more chunks to take: prefetch their share of what a one-token decode
// streams next (prefetchNext).
func (e *exec) afterHook() func(id int) {
	if e.ins == nil || e.ins.nextProduct == nil || !e.oneToken {
		return nil
	}
	return e.prefetchNext(e.ins.nextProduct, e.p.threads)
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
	parallelForThen(threads, n, grain, fn, nil)
}

// parallelForThen is parallelFor with after run by each pool worker once
// it has no more chunks to take (see job.after).
func parallelForThen(threads, n, grain int, fn func(lo, hi int), after func(id int)) {
	chunks := forChunks(threads, n, grain)
	if chunks == 0 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	newJob(threads, n, chunks, 0, fn, after).start()
}

// forChunks is how many chunks parallelFor splits [0, n) into, 0 when it
// runs fn in the caller alone. Up to four chunks per thread: a core that
// another process steals from then costs a chunk, not half the region.
func forChunks(threads, n, grain int) int {
	grain = max(grain, 1)
	if threads <= 1 || n < 2*grain {
		return 0
	}
	return min(n/grain, 4*threads)
}

// parallelOwned runs fn over [0, n) in pieces of piece items (the last
// may be shorter) on up to threads goroutines, the calling one included,
// and after, if not nil, on each pool worker once it has no more pieces
// to take (see job.after). On one goroutine fn runs once, over [0, n).
func parallelOwned(threads, n, piece int, fn func(lo, hi int), after func(id int)) {
	piece = max(piece, 1)
	chunks := (n + piece - 1) / piece
	if participants(threads, chunks) <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	newJob(threads, n, chunks, piece, fn, after).start()
}

// job is one parallel region of chunks: chunk i covers
// [n·i/chunks, n·(i+1)/chunks), or with piece > 0 [piece·i, piece·(i+1)),
// cut at n.
//
// Each participant (the caller is 0, pool worker k is k) owns a
// contiguous share of the chunks and runs it front to back, one stream
// that its prefetches cover, as a static split would; one that finishes
// its share takes chunks from the far ends of the others'. A core that is
// slow, or whose goroutine starts late or never (a descheduled vCPU on a
// shared host), then costs the chunks it has not reached, not the whole
// region.
//
// Nothing in a region is written by more than one participant except
// when one takes from another's share: on a 16-core Xeon VM, a region
// whose participants all claimed chunks from one counter and counted them
// done on another cost 11 µs before any work (16 threads), because each
// of those read-modify-writes waits for the line in turn.
type job struct {
	fn     func(lo, hi int)
	n      int
	chunks int
	piece  int
	slots  []slot // one per participant
	mu     sync.Mutex
	crash  any
	// after, if set, runs on each pool worker once it has no more chunks
	// to take, before it waits for the next region (not on the caller,
	// which goes on with the serial work).
	after func(id int)
}

// slot is a participant's share and its count of chunks run, alone on
// its cache lines.
type slot struct {
	// share holds the next chunk from the front in the high half and the
	// share's end in the low half; the owner takes from the front, others
	// from the end, each by compare-and-swap.
	share atomic.Uint64
	ran   atomic.Int64 // chunks this participant ran, from any share
	_     [112]byte    // two lines: adjacent-line prefetchers pair them
}

// participants is how many goroutines a region of chunks on threads
// uses: no more than GOMAXPROCS, nor than chunks.
func participants(threads, chunks int) int {
	return min(threads, chunks, runtime.GOMAXPROCS(0))
}

// chunkStart is where chunk i of a region over [0, n) begins (chunk
// chunks is n): [n·i/chunks, …) split evenly, or [piece·i, …) with
// piece > 0, cut at n.
func chunkStart(n, chunks, piece, i int) int {
	if piece > 0 {
		return min(n, piece*i)
	}
	return n * i / chunks
}

// shareChunks is the chunks [c0, c1) participant id owns of chunks split
// between parts participants.
func shareChunks(chunks, parts, id int) (c0, c1 int) {
	return chunks * id / parts, chunks * (id + 1) / parts
}

// share is the range of [0, n) that participant id owns in a region of
// chunks (see job) on threads goroutines, empty if it has fewer.
func share(n, chunks, piece, threads, id int) (lo, hi int) {
	parts := participants(threads, chunks) // 0 when chunks is
	if id >= parts {
		return 0, 0
	}
	c0, c1 := shareChunks(chunks, parts, id)
	return chunkStart(n, chunks, piece, c0), chunkStart(n, chunks, piece, c1)
}

// forShare is the range participant id owns in parallelFor(threads, n,
// grain, …), what a worker prefetches of a region to come.
func forShare(n, grain, threads, id int) (lo, hi int) {
	return share(n, forChunks(threads, n, grain), 0, threads, id)
}

// ownedShare is the range participant id owns in parallelOwned(threads,
// n, piece, …).
func ownedShare(n, piece, threads, id int) (lo, hi int) {
	return share(n, (n+piece-1)/piece, piece, threads, id)
}

// newJob splits chunks into shares for participants(threads, chunks).
func newJob(threads, n, chunks, piece int, fn func(lo, hi int), after func(id int)) *job {
	parts := participants(threads, chunks)
	j := &job{fn: fn, n: n, chunks: chunks, piece: piece, slots: make([]slot, parts), after: after}
	for r := range j.slots {
		c0, c1 := shareChunks(chunks, parts, r)
		j.slots[r].share.Store(uint64(c0)<<32 | uint64(c1))
	}
	return j
}

// start runs j on the pool (or on new goroutines when the pool is busy)
// and re-raises a panic of fn.
func (j *job) start() {
	if workers.mu.TryLock() {
		workers.run(j)
		workers.mu.Unlock()
	} else {
		j.spawn()
	}
	if j.crash != nil {
		panic(j.crash)
	}
}

// work runs participant id's share front to back, then takes chunks from
// the ends of the others' shares until every share is empty.
func (j *job) work(id int) {
	me := &j.slots[id]
	for j.take(&me.share, true, me) {
	}
	for {
		// Read every share before taking from the fullest: the loads
		// are independent, so their cache misses overlap. Visiting the
		// shares one by one cost a miss each in turn, 3.6 µs of an empty
		// region on 16 threads (Xeon VM), every region, on the caller.
		best, most := -1, uint64(0)
		for k := range j.slots {
			v := j.slots[k].share.Load()
			if next, end := v>>32, v&0xffffffff; end > next && end-next > most {
				best, most = k, end-next
			}
		}
		if best < 0 {
			return
		}
		for j.take(&j.slots[best].share, false, me) {
		}
	}
}

// take claims one chunk of share s, from its front or its end, runs it and
// counts it in me; it reports false once the share is empty.
func (j *job) take(s *atomic.Uint64, front bool, me *slot) bool {
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
			me.ran.Add(1)
			return true
		}
	}
}

// done reports whether every chunk has run.
func (j *job) done() bool {
	var ran int64
	for i := range j.slots {
		ran += j.slots[i].ran.Load()
	}
	return ran >= int64(j.chunks)
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
	j.fn(chunkStart(j.n, j.chunks, j.piece, i), chunkStart(j.n, j.chunks, j.piece, i+1))
}

// spawn runs j on a new goroutine per participant but the first, which is
// the caller.
func (j *job) spawn() {
	var wg sync.WaitGroup
	for k := 1; k < len(j.slots); k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.work(k)
		}()
	}
	j.work(0)
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

// run executes j on the caller (participant 0) and pool workers 1 to
// len(j.slots)-1. The caller holds p.mu.
func (p *pool) run(j *job) {
	helpers := len(j.slots) - 1
	for p.started < helpers {
		p.started++
		go p.worker(p.started)
	}
	p.current.Store(j)
	p.gen.Add(1)
	if p.sleepers.Load() > 0 {
		p.sleepMu.Lock()
		p.wake.Broadcast()
		p.sleepMu.Unlock()
	}
	j.work(0)
	// Wait for chunks other participants claimed. They are short; yield
	// now and then in case a worker's thread was descheduled.
	for spins := 0; !j.done(); spins++ {
		if spins&1023 == 1023 {
			runtime.Gosched()
		}
	}
	p.current.Store(nil)
}

// runAfter runs a region's after hook. The hooks only prefetch; a bug in
// one must not take the process down from a worker after its region has
// returned, so a panic there is dropped.
func runAfter(after func(id int), id int) {
	defer func() { _ = recover() }()
	after(id)
}

// worker is pool worker id: it takes part in every region that has a
// participant id.
func (p *pool) worker(id int) {
	var seen uint64
	for {
		if g := p.gen.Load(); g != seen {
			seen = g
			if j := p.current.Load(); j != nil && id < len(j.slots) {
				j.work(id)
				if j.after != nil {
					runAfter(j.after, id)
				}
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
