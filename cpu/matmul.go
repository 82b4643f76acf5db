package cpu

import (
	"fmt"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func init() { builders["MatMul"] = buildMatMul }

// mat is a row-major 2-D operand read in place: f32 values, or the raw
// 16-bit words of a bf16/f16 weight (widened inside the kernels).
type mat struct {
	dt         graph.DType
	f          []float32
	h          []uint16
	rows, cols int
}

func matOf(t *tensor.Tensor, rows, cols, off int) mat {
	m := mat{dt: t.DType, rows: rows, cols: cols}
	n := rows * cols
	switch t.DType {
	case graph.F32:
		m.f = t.F32()[off : off+n]
	default:
		m.h = t.Bits16()[off : off+n]
	}
	return m
}

// dot returns x · row r.
func (m *mat) dot(x []float32, r int) float32 {
	lo := r * m.cols
	switch m.dt {
	case graph.F32:
		return vec.DotF32(x, m.f[lo:lo+m.cols])
	case graph.BF16:
		return vec.DotBF16(x, m.h[lo:lo+m.cols])
	default:
		return vec.DotF16(x, m.h[lo:lo+m.cols])
	}
}

// axpy does y += alpha · row r [c0:c0+len(y)].
func (m *mat) axpy(y []float32, alpha float32, r, c0 int) {
	lo := r*m.cols + c0
	switch m.dt {
	case graph.F32:
		vec.AxpyF32(y, alpha, m.f[lo:lo+len(y)])
	case graph.BF16:
		vec.AxpyBF16(y, alpha, m.h[lo:lo+len(y)])
	default:
		vec.AxpyF16(y, alpha, m.h[lo:lo+len(y)])
	}
}

// rowF32 returns row r as f32: the row itself for f32, else widened into buf.
func (m *mat) rowF32(buf []float32, r int) []float32 {
	lo := r * m.cols
	switch m.dt {
	case graph.F32:
		return m.f[lo : lo+m.cols]
	case graph.BF16:
		vec.BF16ToF32(buf[:m.cols], m.h[lo:lo+m.cols])
	default:
		vec.F16ToF32(buf[:m.cols], m.h[lo:lo+m.cols])
	}
	return buf[:m.cols]
}

func isMatDType(dt graph.DType) bool { return dt == graph.F32 || dt == graph.BF16 || dt == graph.F16 }

func buildMatMul(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	transB := n.Int("transpose_b") != 0
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		return e.matmul(in[0], in[1], transB)
	}, nil
}

func (e *exec) matmul(a, b *tensor.Tensor, transB bool) (*tensor.Tensor, error) {
	if a.Rank() < 1 || b.Rank() < 2 {
		return nil, fmt.Errorf("matmul needs a rank >= 1 and b rank >= 2, got %v and %v", a.Shape, b.Shape)
	}
	outT := graph.Promote(a.DType, b.DType)
	if outT == graph.F64 || !outT.IsFloat() {
		return e.matmulGeneric(a, b, transB, outT)
	}
	aShape := a.Shape
	vecA := a.Rank() == 1
	if vecA {
		aShape = []int{1, a.Shape[0]}
	}
	rb := b.Rank()
	M, K := aShape[len(aShape)-2], aShape[len(aShape)-1]
	bK, N := b.Shape[rb-2], b.Shape[rb-1]
	if transB {
		bK, N = N, bK
	}
	if K != bK {
		return nil, fmt.Errorf("inner dims differ: %v · %v (transpose_b=%v)", a.Shape, b.Shape, transB)
	}
	aBatch, bBatch := aShape[:len(aShape)-2], b.Shape[:rb-2]
	batch, err := broadcastShape(aBatch, bBatch)
	if err != nil {
		return nil, err
	}
	outShape := append(append([]int(nil), batch...), M, N)
	if vecA {
		outShape = append(append([]int(nil), batch...), N)
	}
	af, ta := e.asF32(a)
	bt, tb := b, false
	if !isMatDType(b.DType) {
		bt, tb = e.asF32(b)
	}
	out := e.alloc(graph.F32, outShape...)
	y := out.F32()
	nb := tensor.NumElements(batch)
	bRows, bCols := b.Shape[rb-2], b.Shape[rb-1]
	if nb == 1 {
		m := matOf(bt, bRows, bCols, 0)
		e.matmul2D(y, af.F32(), M, K, &m, N, transB, true)
	} else {
		aSt, bSt := batchStrides(batch, aBatch), batchStrides(batch, bBatch)
		av := af.F32()
		e.parallel(nb, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ao, bo := batchOffset(i, batch, aSt), batchOffset(i, batch, bSt)
				m := matOf(bt, bRows, bCols, bo*bRows*bCols)
				e.matmul2D(y[i*M*N:(i+1)*M*N], av[ao*M*K:(ao+1)*M*K], M, K, &m, N, transB, false)
			}
		})
	}
	if ta {
		e.free(af)
	}
	if tb {
		e.free(bt)
	}
	return e.toDType(out, outT), nil
}

// batchStrides gives, per dim of the broadcast batch shape, the stride (in
// matrices) of an operand with batch shape s; 0 where s broadcasts.
func batchStrides(batch, s []int) []int {
	st := make([]int, len(batch))
	acc := 1
	for i := len(s) - 1; i >= 0; i-- {
		j := len(batch) - len(s) + i
		if s[i] != 1 {
			st[j] = acc
		}
		acc *= s[i]
	}
	return st
}

func batchOffset(i int, batch, st []int) int {
	off := 0
	for d := len(batch) - 1; d >= 0; d-- {
		off += (i % batch[d]) * st[d]
		i /= batch[d]
	}
	return off
}

// matmul2D computes y[M,N] = x[M,K] · b (b is [N,K] when transB, else
// [K,N]), splitting the work across goroutines when par.
func (e *exec) matmul2D(y, x []float32, M, K int, b *mat, N int, transB, par bool) {
	threads := 1
	if par {
		threads = e.p.threads
	}
	if transB {
		if M < 4 {
			// Decode (and small batches): one pass over the weight rows,
			// split by output column; each row meets every x row while it
			// is in L1.
			parallelFor(threads, N, 64, func(lo, hi int) {
				for n := lo; n < hi; n++ {
					for m := 0; m < M; m++ {
						y[m*N+n] = b.dot(x[m*K:(m+1)*K], n)
					}
				}
			})
			return
		}
		// Prefill: widen four weight rows at a time into a small f32 tile
		// and multiply it with x three rows at a time (a 3×4 register
		// tile), x in blocks that stay in L2.
		// About 384 KiB of x per block: it stays in L2 while the weight
		// tiles stream past.
		mBlock := max(3, (98304/max(K, 1))/3*3)
		parallelFor(threads, (N+3)/4, 4, func(lo, hi int) {
			tile := make([]float32, 4*K)
			var acc4 [4]float32
			var acc12 [12]float32
			for m0 := 0; m0 < M; m0 += mBlock {
				m1 := min(m0+mBlock, M)
				for nb := lo; nb < hi; nb++ {
					n0 := nb * 4
					cnt := min(4, N-n0)
					var rows [4][]float32
					for j := 0; j < 4; j++ {
						rows[j] = b.rowF32(tile[j*K:(j+1)*K], n0+min(j, cnt-1))
					}
					m := m0
					for ; m+3 <= m1; m += 3 {
						vec.Dot3x4F32(x[m*K:(m+1)*K], x[(m+1)*K:(m+2)*K], x[(m+2)*K:(m+3)*K], rows[0], rows[1], rows[2], rows[3], &acc12)
						for i := 0; i < 3; i++ {
							copy(y[(m+i)*N+n0:(m+i)*N+n0+cnt], acc12[4*i:4*i+cnt])
						}
					}
					for ; m < m1; m++ {
						vec.Dot4F32(x[m*K:(m+1)*K], rows[0], rows[1], rows[2], rows[3], &acc4)
						copy(y[m*N+n0:m*N+n0+cnt], acc4[:cnt])
					}
				}
			}
		})
		return
	}
	// b is [K,N]: y[m,:] = Σ_k x[m,k]·b[k,:], split by rows of y when there
	// are enough, else by column ranges.
	if M >= 2*threads {
		parallelFor(threads, M, 1, func(lo, hi int) {
			for m := lo; m < hi; m++ {
				yr := y[m*N : (m+1)*N]
				clear(yr)
				for k := 0; k < K; k++ {
					if a := x[m*K+k]; a != 0 {
						b.axpy(yr, a, k, 0)
					}
				}
			}
		})
		return
	}
	parallelFor(threads, N, 256, func(lo, hi int) {
		for m := 0; m < M; m++ {
			yr := y[m*N+lo : m*N+hi]
			clear(yr)
			for k := 0; k < K; k++ {
				if a := x[m*K+k]; a != 0 {
					b.axpy(yr, a, k, lo)
				}
			}
		}
	})
}

// matmulGeneric handles f64 and integer matmuls with a plain loop.
func (e *exec) matmulGeneric(a, b *tensor.Tensor, transB bool, outT graph.DType) (*tensor.Tensor, error) {
	aShape := a.Shape
	vecA := a.Rank() == 1
	if vecA {
		aShape = []int{1, a.Shape[0]}
	}
	rb := b.Rank()
	M, K := aShape[len(aShape)-2], aShape[len(aShape)-1]
	bK, N := b.Shape[rb-2], b.Shape[rb-1]
	if transB {
		bK, N = N, bK
	}
	if K != bK {
		return nil, fmt.Errorf("inner dims differ: %v · %v", a.Shape, b.Shape)
	}
	aBatch, bBatch := aShape[:len(aShape)-2], b.Shape[:rb-2]
	batch, err := broadcastShape(aBatch, bBatch)
	if err != nil {
		return nil, err
	}
	outShape := append(append([]int(nil), batch...), M, N)
	if vecA {
		outShape = append(append([]int(nil), batch...), N)
	}
	out := e.alloc(outT, outShape...)
	aSt, bSt := batchStrides(batch, aBatch), batchStrides(batch, bBatch)
	for i := 0; i < tensor.NumElements(batch); i++ {
		ao, bo := batchOffset(i, batch, aSt)*M*K, batchOffset(i, batch, bSt)*K*N
		for m := 0; m < M; m++ {
			for n := 0; n < N; n++ {
				var s float64
				for k := 0; k < K; k++ {
					bi := bo + k*N + n
					if transB {
						bi = bo + n*K + k
					}
					s += a.Float64At(ao+m*K+k) * b.Float64At(bi)
				}
				out.SetFloat64(i*M*N+m*N+n, s)
			}
		}
	}
	return out, nil
}
