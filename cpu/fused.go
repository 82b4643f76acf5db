package cpu

import (
	"fmt"
	"math"
	"slices"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["RMSNorm"] = buildRMSNorm
	builders["LayerNorm"] = buildLayerNorm
	builders["RoPE"] = buildRoPE
	builders["SwiGLU"] = buildSwiGLU
}

// paramF32 widens a 1-D parameter (norm weight, bias) of length n:
// widened, when the compiler already widened an initializer parameter
// (compiler.constantF32) and it has n values; else the tensor's own values
// when f32, else a copy in an arena buffer that done returns.
func (e *exec) paramF32(widened []float32, t *tensor.Tensor, n int, what string) (v []float32, done func(), err error) {
	done = func() {}
	if widened != nil && len(widened) == n {
		return widened, done, nil
	}
	if t == nil {
		return nil, done, nil
	}
	if t.Len() != n {
		return nil, done, fmt.Errorf("%s has %d elements, want %d", what, t.Len(), n)
	}
	if t.DType == graph.F32 {
		return t.F32(), done, nil
	}
	f, _ := e.asF32(t)
	return f.F32(), func() { e.free(f) }, nil
}

func buildRMSNorm(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	eps := float32(n.Float("eps"))
	wConst := c.constantF32(n.Input(1))
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		if x.Rank() < 1 {
			return nil, fmt.Errorf("x must have rank >= 1")
		}
		D := x.Shape[x.Rank()-1]
		w, done, err := e.paramF32(wConst, in[1], D, "weight")
		if err != nil {
			return nil, err
		}
		defer done()
		xf, tmp := e.asF32(x)
		out := e.alloc(graph.F32, x.Shape...)
		xv, ov := xf.F32(), out.F32()
		rows := x.Len() / max(D, 1)
		e.parallel(rows, 1+4096/max(D, 1), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				rmsNormRow(ov[r*D:(r+1)*D], xv[r*D:(r+1)*D], w, eps)
			}
		})
		if tmp {
			e.free(xf)
		}
		return e.toDType(out, graph.Promote(x.DType, in[1].DType)), nil
	}, nil
}

// rmsNormRow computes w * (x * rsqrt(mean(x²) + eps)) with the same f32
// steps as the primitive form (Pow, ReduceMean, Add, Rsqrt, Mul, Mul).
func rmsNormRow(y, x, w []float32, eps float32) {
	mean := sumSqF32(x) / float32(len(x))
	vec.ScaleMulF32(y, x, w, rsqrt32(mean+eps))
}

func buildLayerNorm(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	eps := float32(n.Float("eps"))
	wConst, bConst := c.constantF32(n.Input(1)), c.constantF32(n.Input(2))
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		if x.Rank() < 1 {
			return nil, fmt.Errorf("x must have rank >= 1")
		}
		D := x.Shape[x.Rank()-1]
		w, doneW, err := e.paramF32(wConst, in[1], D, "weight")
		if err != nil {
			return nil, err
		}
		defer doneW()
		bias, doneB, err := e.paramF32(bConst, in3at(in, 2), D, "bias")
		if err != nil {
			return nil, err
		}
		defer doneB()
		xf, tmp := e.asF32(x)
		out := e.alloc(graph.F32, x.Shape...)
		xv, ov := xf.F32(), out.F32()
		rows := x.Len() / max(D, 1)
		e.parallel(rows, 1+4096/max(D, 1), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				layerNormRow(ov[r*D:(r+1)*D], xv[r*D:(r+1)*D], w, bias, eps)
			}
		})
		if tmp {
			e.free(xf)
		}
		dt := graph.Promote(x.DType, in[1].DType)
		if b := in3at(in, 2); b != nil {
			dt = graph.Promote(dt, b.DType)
		}
		return e.toDType(out, dt), nil
	}, nil
}

func in3at(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// layerNormRow: (x - mean) * rsqrt(var + eps) * w + b, biased variance,
// the two moments summed like ReduceMean.
func layerNormRow(y, x, w, b []float32, eps float32) {
	n := float32(len(x))
	mu := sumF32(x) / n
	for i, v := range x {
		y[i] = v - mu
	}
	r := rsqrt32(sumSqF32(y)/n + eps)
	for i := range y {
		v := float32(y[i]*r) * w[i]
		if b != nil {
			v += b[i]
		}
		y[i] = v
	}
}

func buildRoPE(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	dims := int(n.Int("dims"))
	base := n.Float("base")
	traditional := n.Int("traditional") != 0
	scale := float32(n.Float("scale"))
	if dims <= 0 || dims%2 != 0 {
		return nil, fmt.Errorf("dims %d must be positive and even", dims)
	}
	half := dims / 2
	defFreq := c.ropeFrequencies(dims, base)
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x, pos := in[0], in[1]
		if x.Rank() != 4 {
			return nil, fmt.Errorf("x must be [B,H,S,D], got %v", x.Shape)
		}
		B, H, S, D := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		if dims > D {
			return nil, fmt.Errorf("dims %d exceed head dim %d", dims, D)
		}
		if pos.Rank() != 2 || pos.Shape[0] != B || pos.Shape[1] != S {
			return nil, fmt.Errorf("positions %v, want [%d,%d]", pos.Shape, B, S)
		}
		freq := defFreq
		// The table cache is keyed by the frequencies' storage, which is
		// stable only for f32 inputs and the default table (a widened copy
		// lives in a recycled buffer).
		cacheable := true
		if f := in3at(in, 2); f != nil {
			cacheable = f.DType == graph.F32
			var err error
			var done func()
			if freq, done, err = e.paramF32(nil, f, half, "inv_freq"); err != nil {
				return nil, err
			}
			defer done()
		}
		cs := e.ropeTable(pos, freq, scale, half, cacheable)
		xf, tmp := e.asF32(x)
		out := e.alloc(graph.F32, x.Shape...)
		xv, ov := xf.F32(), out.F32()
		e.parallel(B*H*S, 64, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				b, s := r/(H*S), r%S
				xr, yr := xv[r*D:(r+1)*D], ov[r*D:(r+1)*D]
				cos := cs[2*(b*S+s)*half:][:half]
				sin := cs[(2*(b*S+s)+1)*half:][:half]
				if traditional {
					for k := range cos {
						x1, x2 := xr[2*k], xr[2*k+1]
						// Explicit conversions keep each product rounded (no
						// FMA), as the primitive form Mul, Mul, Add computes it.
						yr[2*k] = float32(x1*cos[k]) - float32(x2*sin[k])
						yr[2*k+1] = float32(x2*cos[k]) + float32(x1*sin[k])
					}
				} else {
					vec.RotateF32(yr[:half], yr[half:dims], xr[:half], xr[half:dims], cos, sin)
				}
				copy(yr[dims:], xr[dims:])
			}
		})
		if tmp {
			e.free(xf)
		}
		return e.toDType(out, x.DType), nil
	}, nil
}

func buildSwiGLU(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		return e.swiglu(in[0], in[1])
	}, nil
}

// swiglu computes silu(g) · u.
func (e *exec) swiglu(g, u *tensor.Tensor) (*tensor.Tensor, error) {
	if !slices.Equal(g.Shape, u.Shape) {
		return nil, fmt.Errorf("gate %v and up %v differ", g.Shape, u.Shape)
	}
	gf, tg := e.asF32(g)
	uf, tu := e.asF32(u)
	out := e.alloc(graph.F32, g.Shape...)
	gv, uv, ov := gf.F32(), uf.F32(), out.F32()
	n := len(ov)
	e.parallel((n+7)/8, 1024, func(lo, hi int) {
		lo, hi = lo*8, min(hi*8, n)
		swigluF32(ov[lo:hi], gv[lo:hi], uv[lo:hi])
	})
	if tg {
		e.free(gf)
	}
	if tu {
		e.free(uf)
	}
	return e.toDType(out, graph.Promote(g.DType, u.DType)), nil
}

// swigluF32 sets d[i] = silu(g[i]) · u[i]: the vector kernel over the
// longest prefix that is a multiple of 8, then the scalar function. Callers
// split at multiples of 8, so an element's bits do not depend on the split.
func swigluF32(d, g, u []float32) {
	for i := vec.SwiGLUPrefix(d, g, u); i < len(d); i++ {
		d[i] = silu32(g[i]) * u[i]
	}
}

// ropeFrequencies returns the default frequencies exactly as transformers
// computes them in f32, 1 / base^(arange(0, dims, 2) / dims), one slice
// per (dims, base) in the program: the table cache is keyed by the
// frequencies' storage, so that every layer's RoPE nodes share one table
// per step instead of computing it again (56 times a Qwen3-0.6B token).
func (c *compiler) ropeFrequencies(dims int, base float64) []float32 {
	key := ropeDefault{dims, base}
	if f, ok := c.ropeFreqs[key]; ok {
		return f
	}
	f := make([]float32, dims/2)
	for k := range f {
		ex := float32(2*k) / float32(dims)
		f[k] = 1 / float32(math.Pow(base, float64(ex)))
	}
	if c.ropeFreqs == nil {
		c.ropeFreqs = map[ropeDefault][]float32{}
	}
	c.ropeFreqs[key] = f
	return f
}

type ropeDefault struct {
	dims int
	base float64
}

// ropeTable returns cos and sin of every (position, frequency) pair,
// [B*S][2][half]: per position the cosines, then the sines. Within one run
// the table is computed once and shared by every RoPE node with the same
// positions and frequencies (all layers, q and k), as the primitive form
// shares its cos/sin.
func (e *exec) ropeTable(pos *tensor.Tensor, freq []float32, scale float32, half int, cacheable bool) []float32 {
	n := pos.Len()
	key := ropeKey{freq: &freq[0], scale: scale, half: half}
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = pos.Int64At(i)
	}
	if t, ok := e.rope[key]; ok && cacheable && slices.Equal(t.pos, ids) {
		return t.cs
	}
	cs := make([]float32, 2*n*half)
	for bs, id := range ids {
		p := float32(id)
		if scale != 1 {
			p = p * scale
		}
		for k := 0; k < half; k++ {
			th := float64(p * freq[k])
			cs[2*bs*half+k] = float32(math.Cos(th))
			cs[(2*bs+1)*half+k] = float32(math.Sin(th))
		}
	}
	if !cacheable {
		return cs
	}
	if e.rope == nil {
		e.rope = map[ropeKey]*ropeCache{}
	}
	e.rope[key] = &ropeCache{pos: ids, cs: cs}
	return cs
}

type ropeKey struct {
	freq  *float32
	scale float32
	half  int
}

type ropeCache struct {
	pos []int64
	cs  []float32
}
