package quant

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// TestPrepCacheNoStaleHits reuses one input buffer with new contents, as
// a decode loop does, and checks every call sees the new values.
func TestPrepCacheNoStaleHits(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	m, _ := Quantize(randMatrix(rng, 24, 128, graph.BF16), 24, 128, Default, graph.BF16)
	x := randVec(rng, 128)
	got := make([]float32, 24)
	for step := 0; step < 5; step++ {
		want, mag := refProduct(m, x, 1)
		MatVecRows(got, x, m, 0, 12)
		MatVecRows(got, x, m, 12, 24)
		for i := range got {
			if e := math.Abs(float64(got[i]) - want[i]); e > 2e-6*mag[i]+1e-6 {
				t.Fatalf("step %d row %d: got %g want %g", step, i, got[i], want[i])
			}
		}
		x[step*7] += 1 // same buffer, new contents
	}
}

// TestPrepCacheConcurrent runs many goroutines over more distinct inputs
// than the cache holds, each split into row ranges (run with -race).
func TestPrepCacheConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const rows, cols = 64, 256
	m8, _ := Quantize(randMatrix(rng, rows, cols, graph.BF16), rows, cols, Params{8, 64}, graph.BF16)
	m4, _ := Quantize(randMatrix(rng, rows, cols, graph.BF16), rows, cols, Default, graph.BF16)
	type job struct {
		m     *Matrix
		x     []float32
		batch int
		want  []float64
		mag   []float64
	}
	var jobs []job
	for i := 0; i < 3*prepSlots; i++ {
		m := m4
		if i%3 == 0 {
			m = m8
		}
		batch := 1 + i%3
		x := randVec(rng, batch*cols)
		want, mag := refProduct(m, x, batch)
		jobs = append(jobs, job{m, x, batch, want, mag})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 20; it++ {
				j := jobs[(g*7+it)%len(jobs)]
				got := make([]float32, j.batch*rows)
				for r := 0; r < rows; r += 16 {
					MatMulRows(got, j.x, j.batch, j.m, r, r+16)
				}
				for i := range got {
					if e := math.Abs(float64(got[i]) - j.want[i]); e > 2e-6*j.mag[i]+1e-6 {
						errs <- "wrong result under concurrency"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
