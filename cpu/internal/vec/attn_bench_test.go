package vec

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAttnHeads runs one decode step of attention over 64 MiB of KV
// cache heads ([160,128] keys and values each, as a Qwen3-0.6B layer holds
// after 160 positions), one thread: two query heads' scores against each
// head's keys, then their weighted sums of its values. The cache is larger
// than the last-level cache, so this measures how close the kernels come
// to streaming memory (compare BenchmarkStreamRead).
func BenchmarkAttnHeads(b *testing.B) {
	const T, D = 160, 128
	heads := (64 << 20) / (2 * T * D * 4)
	r := rand.New(rand.NewPCG(1, 2))
	kv := randF32(r, heads*2*T*D)
	q0, q1 := randF32(r, D), randF32(r, D)
	l0, l1 := make([]float32, T), make([]float32, T)
	o0, o1 := make([]float32, D), make([]float32, D)
	b.Run("dot+wsum", func(b *testing.B) {
		b.SetBytes(int64(len(kv)) * 4)
		for i := 0; i < b.N; i++ {
			for h := 0; h < heads; h++ {
				k := kv[2*h*T*D : (2*h+1)*T*D]
				v := kv[(2*h+1)*T*D : (2*h+2)*T*D]
				DotRows2F32(l0, l1, q0, q1, k, D)
				WeightedRowSum2F32(o0, o1, l0, l1, v, D)
			}
		}
	})
	b.Run("dot", func(b *testing.B) {
		b.SetBytes(int64(len(kv)) * 4)
		for i := 0; i < b.N; i++ {
			for h := 0; h < 2*heads; h++ {
				DotRows2F32(l0, l1, q0, q1, kv[h*T*D:(h+1)*T*D], D)
			}
		}
	})
	b.Run("wsum", func(b *testing.B) {
		b.SetBytes(int64(len(kv)) * 4)
		for i := 0; i < b.N; i++ {
			for h := 0; h < 2*heads; h++ {
				WeightedRowSum2F32(o0, o1, l0, l1, kv[h*T*D:(h+1)*T*D], D)
			}
		}
	})
	b.Run("sum", func(b *testing.B) {
		b.SetBytes(int64(len(kv)) * 4)
		for i := 0; i < b.N; i++ {
			Sum(kv)
		}
	})
}
