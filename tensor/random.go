package tensor

import (
	"math/rand/v2"

	"github.com/graphpass/graphpass/graph"
)

// NewRand returns a deterministic generator for tests and benchmarks.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// RandUniform returns an f32 tensor with elements uniform in [lo, hi).
func RandUniform(r *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := New(graph.F32, shape...)
	FillUniform(r, t.F32(), lo, hi)
	return t
}

// RandNormal returns an f32 tensor with elements drawn from N(0, std²).
func RandNormal(r *rand.Rand, std float32, shape ...int) *Tensor {
	t := New(graph.F32, shape...)
	v := t.F32()
	for i := range v {
		v[i] = float32(r.NormFloat64()) * std
	}
	return t
}

// FillUniform fills v with values uniform in [lo, hi).
func FillUniform(r *rand.Rand, v []float32, lo, hi float32) {
	for i := range v {
		v[i] = lo + (hi-lo)*r.Float32()
	}
}

// RandOf returns a tensor of dtype dt with random values: floats uniform
// in [lo, hi) (rounded to dt), integers uniform in [int(lo), int(hi)),
// bools true with probability 1/2.
func RandOf(r *rand.Rand, dt graph.DType, lo, hi float64, shape ...int) *Tensor {
	t := New(dt, shape...)
	n := t.Len()
	for i := 0; i < n; i++ {
		switch {
		case dt.IsFloat():
			t.SetFloat64(i, lo+(hi-lo)*r.Float64())
		case dt == graph.Bool:
			t.SetFloat64(i, float64(r.IntN(2)))
		default:
			span := int64(hi) - int64(lo)
			if span < 1 {
				span = 1
			}
			t.SetFloat64(i, float64(int64(lo)+r.Int64N(span)))
		}
	}
	return t
}
