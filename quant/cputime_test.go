//go:build linux

package quant

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/graphpass/graphpass/graph"
)

// TestKernelCPUTime measures single-thread kernel throughput by thread CPU
// time (best of several runs), which a busy shared machine distorts far
// less than wall time. Opt-in: QUANT_CPUTIME=1 go test -run KernelCPUTime -v
func TestKernelCPUTime(t *testing.T) {
	if os.Getenv("QUANT_CPUTIME") == "" {
		t.Skip("set QUANT_CPUTIME=1")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_THREAD, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	buf := make([]uint64, 256<<20/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	best := time.Hour
	var sink uint64
	for run := 0; run < 5; run++ {
		c0 := cpu()
		var s0, s1, s2, s3 uint64
		for i := 0; i+4 <= len(buf); i += 4 {
			s0 += buf[i]
			s1 += buf[i+1]
			s2 += buf[i+2]
			s3 += buf[i+3]
		}
		sink += s0 + s1 + s2 + s3
		best = min(best, cpu()-c0)
	}
	t.Logf("streaming read 256 MiB: %.2f GB/s (%d)", float64(8*len(buf))/best.Seconds()/1e9, sink&1)
	for _, sz := range []struct {
		name       string
		rows, cols int
		reps       int
		mmap       bool
	}{{"in-cache 512x1024", 512, 1024, 400, false}, {"streaming 16384x8192", 16384, 8192, 4, false},
		{"streaming 131072x1024", 131072, 1024, 4, false}, {"mmap'd 131072x1024", 131072, 1024, 4, true}} {
		for _, p := range []Params{{4, 64}, {4, 32}, {8, 64}} {
			m := randomMatrix(sz.rows, sz.cols, p, graph.BF16)
			if sz.mmap {
				m = mmapCopy(t, m)
			}
			x := make([]float32, sz.cols)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			dst := make([]float32, sz.rows)
			seen := map[string]bool{}
			for _, k := range kernels() {
				forceKernel = k
				var v Vec
				v.Prepare(x, m)
				if seen[v.kernel] {
					forceKernel = ""
					continue
				}
				seen[v.kernel] = true
				best := time.Hour
				for run := 0; run < 5; run++ {
					c0 := cpu()
					for i := 0; i < sz.reps; i++ {
						v.MatVecRows(dst, m, 0, m.Rows)
					}
					best = min(best, cpu()-c0)
				}
				sec := best.Seconds() / float64(sz.reps)
				t.Logf("%-22s bits=%d g=%-3d %-7s %6.2f Gweights/s %6.2f GB/s", sz.name, p.Bits, p.GroupSize, v.kernel,
					float64(m.Rows*m.Cols)/sec/1e9, float64(m.bytes())/sec/1e9)
				forceKernel = ""
			}
		}
	}
}

// mmapCopy writes m to a file and maps it back, as checkpoints are read
// (page-cache pages, 4 KiB, unlike the heap's huge pages).
func mmapCopy(t *testing.T, m *Matrix) *Matrix {
	path := t.TempDir() + "/w.bin"
	data := append(append(append([]byte(nil), m.WordBytes()...), m.Scales...), m.Biases...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, len(data), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	nw := 4 * len(m.Words)
	mm, err := NewMatrix(b[:nw], b[nw:nw+len(m.Scales)], b[nw+len(m.Scales):], m.ScaleType, m.Rows, m.Cols, m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return mm
}
