package quant

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/graph"
)

// The benchmarks use matrices far larger than the last-level cache, so
// they measure what decode is bound by: streaming weights from memory.
// BenchmarkStreamRead is the yardstick measured in the same run; compare
// its MB/s with the kernels'.

const benchRows, benchCols = 16384, 8192 // 134M weights: 75 MB at 4 bits/g64

// randomMatrix builds a packed matrix of random codes without quantizing
// (quantizing 134M weights would dominate the benchmark's setup).
func randomMatrix(rows, cols int, p Params, dt graph.DType) *Matrix {
	rng := rand.New(rand.NewPCG(1, 1))
	m := allocMatrix(rows, cols, p, dt)
	for i := range m.Words {
		m.Words[i] = rng.Uint32()
	}
	for i := 0; i < rows*m.Groups(); i++ {
		storeScalar(m.Scales, dt, i, float32(rng.Float64()*0.01))
		storeScalar(m.Biases, dt, i, float32(-rng.Float64()*0.05))
	}
	return m
}

func (m *Matrix) bytes() int64 { return int64(4*len(m.Words) + len(m.Scales) + len(m.Biases)) }

// parallelRows splits [0, rows) over n goroutines, as a runtime would.
func parallelRows(rows, n int, f func(r0, r1 int)) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		r0, r1 := rows*i/n, rows*(i+1)/n
		wg.Add(1)
		go func() { defer wg.Done(); f(r0, r1) }()
	}
	wg.Wait()
}

func BenchmarkStreamRead(b *testing.B) {
	buf := make([]uint64, 256<<20/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			b.SetBytes(int64(8 * len(buf)))
			var sink uint64
			var mu sync.Mutex
			for b.Loop() {
				parallelRows(len(buf), threads, func(r0, r1 int) {
					var s0, s1, s2, s3 uint64
					p := buf[r0:r1]
					for i := 0; i+4 <= len(p); i += 4 {
						s0 += p[i]
						s1 += p[i+1]
						s2 += p[i+2]
						s3 += p[i+3]
					}
					mu.Lock()
					sink += s0 + s1 + s2 + s3
					mu.Unlock()
				})
			}
			_ = sink
		})
	}
}

// kernels lists the kernels this machine can run, default first.
func kernels() []string {
	var ks []string
	for _, k := range []string{"", "avx2", "generic"} {
		forceKernel = k
		if name := Kernel(); k == "" || name == k {
			ks = append(ks, k)
		}
	}
	forceKernel = ""
	return ks
}

func benchMatVec(b *testing.B, m *Matrix, threads int) {
	x := make([]float32, m.Cols)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	dst := make([]float32, m.Rows)
	var v Vec
	b.SetBytes(m.bytes())
	for b.Loop() {
		v.Prepare(x, m)
		parallelRows(m.Rows, threads, func(r0, r1 int) { v.MatVecRows(dst, m, r0, r1) })
	}
	b.ReportMetric(float64(m.Rows*m.Cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweights/s")
}

// BenchmarkMatVec streams a 75 MB (4-bit) matrix per op, like decode.
func BenchmarkMatVec(b *testing.B) {
	for _, p := range []Params{{4, 64}, {4, 128}, {4, 32}, {8, 64}, {3, 64}, {2, 64}} {
		m := randomMatrix(benchRows, benchCols, p, graph.BF16)
		for _, k := range kernels() {
			forceKernel = k
			name := Kernel()
			if kernelFor(m) != name {
				forceKernel = ""
				continue
			}
			for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
				b.Run(fmt.Sprintf("bits=%d/group=%d/%s/threads=%d", p.Bits, p.GroupSize, name, threads), func(b *testing.B) {
					forceKernel = k
					defer func() { forceKernel = "" }()
					benchMatVec(b, m, threads)
				})
			}
			forceKernel = ""
		}
	}
}

// BenchmarkMatVecInCache runs on a 0.3 MB matrix: the kernel's compute
// ceiling, without memory stalls.
func BenchmarkMatVecInCache(b *testing.B) {
	m := randomMatrix(512, 1024, Default, graph.BF16)
	for _, k := range kernels() {
		forceKernel = k
		name := Kernel()
		forceKernel = ""
		b.Run(name, func(b *testing.B) {
			forceKernel = k
			defer func() { forceKernel = "" }()
			benchMatVec(b, m, 1)
		})
	}
}

func BenchmarkMatMulBatch(b *testing.B) {
	rows, cols := 3072, 1024 // a Qwen3-0.6B MLP projection
	m := randomMatrix(rows, cols, Default, graph.BF16)
	for _, batch := range []int{2, 8, 64} {
		x := make([]float32, batch*cols)
		dst := make([]float32, batch*rows)
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for b.Loop() {
				parallelRows(rows, runtime.GOMAXPROCS(0), func(r0, r1 int) { MatMulRows(dst, x, batch, m, r0, r1) })
			}
			b.ReportMetric(2*float64(batch*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPrepare is the per-token cost of encoding x for the kernels.
func BenchmarkPrepare(b *testing.B) {
	m := randomMatrix(1, 1024, Default, graph.BF16)
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	for _, k := range kernels() {
		forceKernel = k
		name := Kernel()
		forceKernel = ""
		b.Run(name, func(b *testing.B) {
			forceKernel = k
			defer func() { forceKernel = "" }()
			var v Vec
			for b.Loop() {
				v.Prepare(x, m)
			}
		})
	}
}

// BenchmarkDecodeQwen3 runs the matrix-vector products of one decoded
// token of Qwen3-0.6B (28 layers: q 2048×1024, k and v 1024×1024 sharing
// one input, o 1024×2048, gate and up 3072×1024 sharing one, down
// 1024×3072; the tied 151936×1024 lm_head) at 4 bits, group 64, bf16
// scales, split over GOMAXPROCS goroutines the way the CPU runtime does.
// Its MB/s is weight bytes streamed per second; compare StreamRead.
func BenchmarkDecodeQwen3(b *testing.B) {
	if testing.Short() {
		b.Skip("335 MB of weights")
	}
	type mm struct {
		m     *Matrix
		input int // which activation it reads
	}
	var mats []mm
	var total int64
	add := func(rows, cols, input int) {
		m := randomMatrix(rows, cols, Default, graph.BF16)
		mats = append(mats, mm{m, input})
		total += m.bytes()
	}
	for l := 0; l < 28; l++ {
		add(2048, 1024, 0)
		add(1024, 1024, 0)
		add(1024, 1024, 0)
		add(1024, 2048, 1)
		add(3072, 1024, 2)
		add(3072, 1024, 2)
		add(1024, 3072, 3)
	}
	add(151936, 1024, 4)
	inputs := [][]float32{make([]float32, 1024), make([]float32, 2048), make([]float32, 1024), make([]float32, 3072), make([]float32, 1024)}
	out := make([]float32, 151936)
	threads := runtime.GOMAXPROCS(0)
	b.SetBytes(total)
	tok := 0
	for b.Loop() {
		tok++
		for i, x := range inputs { // new activations every token
			for k := range x {
				x[k] = float32((k*7+i+tok)%13) - 6
			}
		}
		for _, p := range mats {
			parallelRows(p.m.Rows, threads, func(r0, r1 int) { MatVecRows(out, inputs[p.input], p.m, r0, r1) })
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
}
