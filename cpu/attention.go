package cpu

import (
	"fmt"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

func init() {
	builders["AttentionMask"] = buildAttentionMask
	builders["SDPA"] = buildSDPA
	builders["KVCacheAttention"] = buildKVCacheAttention
}

const maskValue = float32(graph.MaskValue)

// keyMask reads a [B,T] padding mask (any dtype; nonzero = real token).
func keyMask(m *tensor.Tensor, B, T int) ([]bool, error) {
	if m == nil {
		return nil, nil
	}
	if m.Rank() != 2 || m.Shape[0] != B || m.Shape[1] != T {
		return nil, fmt.Errorf("key mask is %v, want [%d,%d]", m.Shape, B, T)
	}
	out := make([]bool, B*T)
	for i := range out {
		out[i] = m.Float64At(i) != 0
	}
	return out, nil
}

func buildAttentionMask(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	causal := n.Int("causal") != 0
	window := int(n.Int("sliding_window"))
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		am, q := in[0], in[1]
		if am.Rank() != 2 || q.Rank() < 2 {
			return nil, fmt.Errorf("attention_mask must be [B,T] and query [B,S,...], got %v and %v", am.Shape, q.Shape)
		}
		B, T, S := am.Shape[0], am.Shape[1], q.Shape[1]
		if q.Shape[0] != B {
			return nil, fmt.Errorf("attention_mask batch %d vs query batch %d", B, q.Shape[0])
		}
		if S > T {
			return nil, fmt.Errorf("query length %d exceeds key length %d", S, T)
		}
		real, _ := keyMask(am, B, T)
		out := e.alloc(graph.F32, B, 1, S, T)
		o := out.F32()
		for b := 0; b < B; b++ {
			for i := 0; i < S; i++ {
				row := o[(b*S+i)*T : (b*S+i+1)*T]
				for j := range row {
					if allowed(real[b*T+j], j, T-S+i, causal, window) {
						row[j] = 0
					} else {
						row[j] = maskValue
					}
				}
			}
		}
		return out, nil
	}, nil
}

// allowed says whether key j is visible to the query at key position p.
func allowed(real bool, j, p int, causal bool, window int) bool {
	return real && (!causal || j <= p) && (window <= 0 || j > p-window)
}

// attention is the shared core of SDPA and KVCacheAttention.
type attention struct {
	q            []float32 // [B,Hq,S,D]
	B, Hq, S, D  int
	Hkv, T, Dv   int
	kHead, vHead func(b, h int) []float32 // [T,D] and [T,Dv] rows of kv head h
	real         []bool                   // [B,T] or nil
	causal       bool
	scale        float32
	out          []float32 // [B,Hq,S,Dv]
}

func (a *attention) run(e *exec) error {
	if a.Hkv == 0 || a.Hq%a.Hkv != 0 {
		return fmt.Errorf("query heads %d not a multiple of kv heads %d", a.Hq, a.Hkv)
	}
	if a.causal && a.S > a.T {
		return fmt.Errorf("query length %d exceeds key length %d", a.S, a.T)
	}
	group := a.Hq / a.Hkv
	tasks := a.B * a.Hq * a.S
	e.parallel(tasks, 1+4096/max(a.T*a.D, 1), func(lo, hi int) {
		logits := make([]float32, a.T)
		var d4 [4]float32
		for t := lo; t < hi; t++ {
			i := t % a.S
			h := (t / a.S) % a.Hq
			b := t / (a.S * a.Hq)
			kh, vh := a.kHead(b, h/group), a.vHead(b, h/group)
			q := a.q[t*a.D : (t+1)*a.D]
			p := a.T - a.S + i
			var real []bool
			if a.real != nil {
				real = a.real[b*a.T : (b+1)*a.T]
			}
			// Keys past the causal limit get weight exactly 0 (exp of
			// MaskValue minus a finite max underflows), so they are skipped,
			// unless the whole row is masked: then every key counts, as in
			// the primitive form.
			n := a.T
			if a.causal {
				n = p + 1
			}
			if real != nil && !anyTrue(real[:n]) {
				n = a.T
			}
			l := logits[:n]
			D := a.D
			j := 0
			for ; j+4 <= n; j += 4 {
				vec.Dot4F32(q, kh[j*D:(j+1)*D], kh[(j+1)*D:(j+2)*D], kh[(j+2)*D:(j+3)*D], kh[(j+3)*D:(j+4)*D], &d4)
				l[j], l[j+1], l[j+2], l[j+3] = d4[0]*a.scale, d4[1]*a.scale, d4[2]*a.scale, d4[3]*a.scale
			}
			for ; j < n; j++ {
				l[j] = vec.DotF32(q, kh[j*D:(j+1)*D]) * a.scale
			}
			for j := range l {
				if (real != nil && !real[j]) || (a.causal && j > p) {
					l[j] += maskValue
				}
			}
			softmaxRow(l, l)
			o := a.out[t*a.Dv : (t+1)*a.Dv]
			clear(o)
			for j, w := range l {
				if w != 0 {
					vec.AxpyF32(o, w, vh[j*a.Dv:(j+1)*a.Dv])
				}
			}
		}
	})
	return nil
}

func anyTrue(v []bool) bool {
	for _, b := range v {
		if b {
			return true
		}
	}
	return false
}

func buildSDPA(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	scale := float32(n.Float("scale"))
	var causal bool
	switch m := n.Str("mask"); m {
	case "causal":
		causal = true
	case "none":
	default:
		return nil, fmt.Errorf("mask %q, want \"causal\" or \"none\"", m)
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		q, k, v := in[0], in[1], in[2]
		if q.Rank() != 4 || k.Rank() != 4 || v.Rank() != 4 {
			return nil, fmt.Errorf("q, k, v must be rank 4, got %v %v %v", q.Shape, k.Shape, v.Shape)
		}
		B, Hq, S, D := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
		Hkv, T, Dv := k.Shape[1], k.Shape[2], v.Shape[3]
		if k.Shape[0] != B || v.Shape[0] != B || k.Shape[3] != D || v.Shape[1] != Hkv || v.Shape[2] != T {
			return nil, fmt.Errorf("q %v, k %v, v %v disagree", q.Shape, k.Shape, v.Shape)
		}
		real, err := keyMask(in3(in), B, T)
		if err != nil {
			return nil, err
		}
		qf, tq := e.asF32(q)
		kf, tk := e.asF32(k)
		vf, tv := e.asF32(v)
		out := e.alloc(graph.F32, B, Hq, S, Dv)
		kv, vv := kf.F32(), vf.F32()
		a := attention{q: qf.F32(), B: B, Hq: Hq, S: S, D: D, Hkv: Hkv, T: T, Dv: Dv,
			kHead: func(b, h int) []float32 { o := (b*Hkv + h) * T * D; return kv[o : o+T*D] },
			vHead: func(b, h int) []float32 { o := (b*Hkv + h) * T * Dv; return vv[o : o+T*Dv] },
			real:  real, causal: causal, scale: scale, out: out.F32()}
		err = a.run(e)
		for _, t := range []struct {
			t   *tensor.Tensor
			tmp bool
		}{{qf, tq}, {kf, tk}, {vf, tv}} {
			if t.tmp {
				e.free(t.t)
			}
		}
		if err != nil {
			e.free(out)
			return nil, err
		}
		return e.toDType(out, q.DType), nil
	}, nil
}

func in3(in []*tensor.Tensor) *tensor.Tensor {
	if len(in) > 3 {
		return in[3]
	}
	return nil
}

func buildKVCacheAttention(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	scale := float32(n.Float("scale"))
	layer := n.Int("layer")
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		if e.cache == nil {
			return nil, fmt.Errorf("no KV cache: run the program with a cache")
		}
		q, k, v := in[0], in[1], in[2]
		if q.Rank() != 4 || k.Rank() != 4 || v.Rank() != 4 {
			return nil, fmt.Errorf("q, k, v must be rank 4, got %v %v %v", q.Shape, k.Shape, v.Shape)
		}
		B, Hq, S, D := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
		kf, tk := e.asF32(k)
		vf, tv := e.asF32(v)
		lc, err := e.cache.append(layer, kf, vf)
		if tk {
			e.free(kf)
		}
		if tv {
			e.free(vf)
		}
		if err != nil {
			return nil, err
		}
		if k.Shape[0] != B || k.Shape[3] != D || k.Shape[2] != S {
			return nil, fmt.Errorf("q %v and k %v disagree", q.Shape, k.Shape)
		}
		T := lc.n
		real, err := keyMask(in3(in), B, T)
		if err != nil {
			return nil, fmt.Errorf("%w (the running mask must cover all %d cached positions)", err, T)
		}
		qf, tq := e.asF32(q)
		out := e.alloc(graph.F32, B, Hq, S, lc.dv)
		a := attention{q: qf.F32(), B: B, Hq: Hq, S: S, D: D, Hkv: lc.h, T: T, Dv: lc.dv,
			kHead: func(b, h int) []float32 { o := (b*lc.h + h) * lc.cap * lc.d; return lc.k[o : o+T*lc.d] },
			vHead: func(b, h int) []float32 { o := (b*lc.h + h) * lc.cap * lc.dv; return lc.v[o : o+T*lc.dv] },
			real:  real, causal: true, scale: scale, out: out.F32()}
		err = a.run(e)
		if tq {
			e.free(qf)
		}
		if err != nil {
			e.free(out)
			return nil, err
		}
		return e.toDType(out, q.DType), nil
	}, nil
}

// Cache is the key/value cache KVCacheAttention nodes keep per layer for
// one batch of sequences. The zero value is not usable; see
// Program.NewCache.
type Cache struct {
	layers  map[int64]*layerKV
	capHint int
}

type layerKV struct {
	b, h, d, dv int
	n, cap      int
	k, v        []float32 // [b][h][cap][d]
}

// NewCache returns an empty cache for RunWithCache.
func (p *Program) NewCache() *Cache { return &Cache{layers: map[int64]*layerKV{}} }

// NewCacheCap returns an empty cache that reserves room for capacity
// positions per layer on first use.
func (p *Program) NewCacheCap(capacity int) *Cache {
	return &Cache{layers: map[int64]*layerKV{}, capHint: capacity}
}

// Reset empties the cache (keeping its memory for reuse).
func (c *Cache) Reset() {
	for _, l := range c.layers {
		l.n = 0
	}
}

// Len is the number of cached positions (0 before the first run).
func (c *Cache) Len() int {
	for _, l := range c.layers {
		return l.n
	}
	return 0
}

// Bytes is the memory the cache holds.
func (c *Cache) Bytes() int64 {
	var n int64
	for _, l := range c.layers {
		n += int64(len(l.k)+len(l.v)) * 4
	}
	return n
}

// mark records every layer's length; rollback restores them.
func (c *Cache) mark() map[int64]int {
	if c == nil {
		return nil
	}
	m := make(map[int64]int, len(c.layers))
	for k, l := range c.layers {
		m[k] = l.n
	}
	return m
}

func (c *Cache) rollback(m map[int64]int) {
	if c == nil {
		return
	}
	for k, l := range c.layers {
		l.n = m[k] // layers created during the failed run drop to 0
	}
}

func (c *Cache) append(layer int64, k, v *tensor.Tensor) (*layerKV, error) {
	B, H, S, D := k.Shape[0], k.Shape[1], k.Shape[2], k.Shape[3]
	if v.Shape[0] != B || v.Shape[1] != H || v.Shape[2] != S {
		return nil, fmt.Errorf("k %v and v %v disagree", k.Shape, v.Shape)
	}
	Dv := v.Shape[3]
	l := c.layers[layer]
	if l == nil || (l.n == 0 && (l.b != B || l.h != H || l.d != D || l.dv != Dv)) {
		l = &layerKV{b: B, h: H, d: D, dv: Dv}
		c.layers[layer] = l
	}
	if l.b != B || l.h != H || l.d != D || l.dv != Dv {
		return nil, fmt.Errorf("layer %d cache holds [%d,%d,·,%d] keys, got %v", layer, l.b, l.h, l.d, k.Shape)
	}
	if l.n+S > l.cap {
		nc := max(2*l.cap, l.n+S, c.capHint, 16)
		nk := make([]float32, B*H*nc*D)
		nv := make([]float32, B*H*nc*Dv)
		for bh := 0; bh < B*H; bh++ {
			copy(nk[bh*nc*D:bh*nc*D+l.n*D], l.k[bh*l.cap*D:])
			copy(nv[bh*nc*Dv:bh*nc*Dv+l.n*Dv], l.v[bh*l.cap*Dv:])
		}
		l.k, l.v, l.cap = nk, nv, nc
	}
	kv, vv := k.F32(), v.F32()
	for bh := 0; bh < B*H; bh++ {
		copy(l.k[bh*l.cap*D+l.n*D:], kv[bh*S*D:(bh+1)*S*D])
		copy(l.v[bh*l.cap*Dv+l.n*Dv:], vv[bh*S*Dv:(bh+1)*S*Dv])
	}
	l.n += S
	return l, nil
}
