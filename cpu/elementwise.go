package cpu

import (
	"fmt"
	"math"

	"github.com/graphpass/graphpass/cpu/internal/vec"
	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/tensor"
)

// asF32 returns t as f32: t itself, or a converted temporary (tmp=true)
// that the caller frees.
func (e *exec) asF32(t *tensor.Tensor) (f *tensor.Tensor, tmp bool) {
	if t.DType == graph.F32 {
		return t, false
	}
	f = e.alloc(graph.F32, t.Shape...)
	tensor.ConvertToF32(f.F32(), t.DType, t.Bytes())
	return f, true
}

// toDType converts an f32 result to dt (freeing f) unless dt is f32.
func (e *exec) toDType(f *tensor.Tensor, dt graph.DType) *tensor.Tensor {
	if dt == graph.F32 {
		return f
	}
	out := e.alloc(dt, f.Shape...)
	tensor.ConvertBytes(out.Bytes(), dt, f.Bytes(), graph.F32)
	e.free(f)
	return out
}

// ── unary ───────────────────────────────────────────────────────────────

func f64fn(f func(float64) float64) func(float32) float32 {
	return func(x float32) float32 { return float32(f(float64(x))) }
}

func sigmoid32(x float32) float32 { return 1 / (1 + expf(-x)) }

// silu32 is x * sigmoid(x), computed as x / (1 + exp(-x)) in f32 like
// PyTorch's CPU kernel.
func silu32(x float32) float32 { return x / (1 + expf(-x)) }

func geluErf(x float32) float32 {
	v := float64(x)
	return float32(v / 2 * (1 + math.Erf(v/math.Sqrt2)))
}

func geluTanh(x float32) float32 {
	v := float64(x)
	return float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
}

func rsqrt32(x float32) float32 { return float32(1 / math.Sqrt(float64(x))) }

var unaryFns = map[string]func(float32) float32{
	"Neg":     func(x float32) float32 { return -x },
	"Abs":     func(x float32) float32 { return float32(math.Abs(float64(x))) },
	"Sqrt":    f64fn(math.Sqrt),
	"Rsqrt":   rsqrt32,
	"Exp":     expf,
	"Log":     f64fn(math.Log),
	"Sin":     f64fn(math.Sin),
	"Cos":     f64fn(math.Cos),
	"Tanh":    f64fn(math.Tanh),
	"Erf":     f64fn(math.Erf),
	"Sigmoid": sigmoid32,
	"Silu":    silu32,
}

var unaryF64 = map[string]func(float64) float64{
	"Neg": func(x float64) float64 { return -x }, "Abs": math.Abs, "Sqrt": math.Sqrt,
	"Rsqrt": func(x float64) float64 { return 1 / math.Sqrt(x) }, "Exp": math.Exp, "Log": math.Log,
	"Sin": math.Sin, "Cos": math.Cos, "Tanh": math.Tanh, "Erf": math.Erf,
	"Sigmoid": func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	"Silu":    func(x float64) float64 { return x / (1 + math.Exp(-x)) },
	"GeluErf": func(v float64) float64 { return v / 2 * (1 + math.Erf(v/math.Sqrt2)) },
	"GeluTanh": func(v float64) float64 {
		return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
	},
}

func init() {
	for op := range unaryFns {
		builders[op] = buildUnary
	}
	builders["Gelu"] = buildUnary
	builders["Identity"] = buildView
	builders["Dropout"] = buildView // inference: y = x whatever the rate
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"} {
		builders[op] = buildBinary
	}
	builders["Where"] = buildWhere
	builders["Cast"] = buildCast
}

func buildView(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) { return in[0], nil }, nil
}

func buildUnary(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	name := n.Op
	if n.Op == "Gelu" {
		switch n.Str("approximate") {
		case "none", "":
			name = "GeluErf"
		case "tanh":
			name = "GeluTanh"
		default:
			return nil, fmt.Errorf("approximate %q, want \"none\" or \"tanh\"", n.Str("approximate"))
		}
	}
	f32 := unaryFns[name]
	switch name {
	case "GeluErf":
		f32 = geluErf
	case "GeluTanh":
		f32 = geluTanh
	}
	f64 := unaryF64[name]
	op := n.Op
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		switch {
		case x.DType == graph.F64:
			out := e.alloc(graph.F64, x.Shape...)
			xs, ys := x.F64(), out.F64()
			for i, v := range xs {
				ys[i] = f64(v)
			}
			return out, nil
		case x.DType.IsFloat():
			xf, tmp := e.asF32(x)
			out := e.alloc(graph.F32, x.Shape...)
			unaryLoop(e, op, f32, out.F32(), xf.F32())
			if tmp {
				e.free(xf)
			}
			return e.toDType(out, x.DType), nil
		default: // integers: Neg and Abs stay exact; others go through f64
			out := e.alloc(x.DType, x.Shape...)
			for i := 0; i < x.Len(); i++ {
				v := x.Int64At(i)
				switch op {
				case "Neg":
					out.SetFloat64(i, float64(-v))
				case "Abs":
					if v < 0 {
						v = -v
					}
					out.SetFloat64(i, float64(v))
				default:
					out.SetFloat64(i, f64(float64(v)))
				}
			}
			return out, nil
		}
	}, nil
}

// unaryLoop applies f elementwise, in parallel for large tensors. Chunks
// start at multiples of 8 so the vector kernels see the same element
// boundaries whatever the split (results do not depend on the threads).
func unaryLoop(e *exec, op string, f func(float32) float32, dst, src []float32) {
	n := len(src)
	e.parallel((n+7)/8, 2048, func(lo, hi int) {
		d, s := dst[lo*8:min(hi*8, n)], src[lo*8:min(hi*8, n)]
		switch op {
		case "Neg":
			for i, v := range s {
				d[i] = -v
			}
		case "Silu":
			siluF32(d, s)
		case "Exp":
			expF32(d, s)
		default:
			for i, v := range s {
				d[i] = f(v)
			}
		}
	})
}

func siluF32(d, s []float32) {
	for i := vec.SiluPrefix(d, s); i < len(s); i++ {
		d[i] = silu32(s[i])
	}
}

func expF32(d, s []float32) {
	for i := vec.ExpPrefix(d, s); i < len(s); i++ {
		d[i] = expf(s[i])
	}
}

// ── binary ──────────────────────────────────────────────────────────────

type binOp uint8

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
	opPow
	opMax
	opMin
)

var binOps = map[string]binOp{"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv, "Pow": opPow, "Max": opMax, "Min": opMin}

func buildBinary(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	op := binOps[n.Op]
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		return e.binary(op, in[0], in[1])
	}, nil
}

func (e *exec) binary(op binOp, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	shape, err := broadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	outT := graph.Promote(a.DType, b.DType)
	it := newBcastIter(shape, a.Shape, b.Shape)
	switch {
	case outT == graph.F64:
		out := e.alloc(graph.F64, shape...)
		av, bv := a.ToF64(), b.ToF64()
		o := out.F64()
		offs := make([]int, 2)
		for r := 0; r < it.rows(); r++ {
			it.offsets(r, offs)
			ia, ib := offs[0], offs[1]
			for i := r * it.n; i < (r+1)*it.n; i++ {
				o[i] = binF64(op, av[ia], bv[ib])
				ia += it.inner[0]
				ib += it.inner[1]
			}
		}
		return out, nil
	case outT.IsFloat():
		af, ta := e.asF32(a)
		bf, tb := e.asF32(b)
		out := e.alloc(graph.F32, shape...)
		o, av, bv := out.F32(), af.F32(), bf.F32()
		rows := it.rows()
		grain := 1 + 16384/max(it.n, 1)
		e.parallel(rows, grain, func(lo, hi int) {
			offs := make([]int, 2)
			for r := lo; r < hi; r++ {
				it.offsets(r, offs)
				binF32(op, o[r*it.n:(r+1)*it.n], av[offs[0]:], it.inner[0], bv[offs[1]:], it.inner[1])
			}
		})
		if ta {
			e.free(af)
		}
		if tb {
			e.free(bf)
		}
		return e.toDType(out, outT), nil
	default:
		res := e.alloc(graph.I64, shape...)
		o := res.I64()
		offs := make([]int, 2)
		for r := 0; r < it.rows(); r++ {
			it.offsets(r, offs)
			ia, ib := offs[0], offs[1]
			for i := r * it.n; i < (r+1)*it.n; i++ {
				v, err := binI64(op, a.Int64At(ia), b.Int64At(ib))
				if err != nil {
					e.free(res)
					return nil, err
				}
				o[i] = v
				ia += it.inner[0]
				ib += it.inner[1]
			}
		}
		if outT == graph.I64 {
			return res, nil
		}
		out := e.alloc(outT, shape...)
		tensor.ConvertBytes(out.Bytes(), outT, res.Bytes(), graph.I64)
		e.free(res)
		return out, nil
	}
}

// binF32 computes o[i] = a[i*sa] op b[i*sb].
func binF32(op binOp, o, a []float32, sa int, b []float32, sb int) {
	n := len(o)
	if n == 0 {
		return
	}
	if sa == 1 && sb == 1 {
		a, b = a[:n], b[:n]
		switch op {
		case opAdd:
			for i := range o {
				o[i] = a[i] + b[i]
			}
			return
		case opSub:
			for i := range o {
				o[i] = a[i] - b[i]
			}
			return
		case opMul:
			for i := range o {
				o[i] = a[i] * b[i]
			}
			return
		case opDiv:
			for i := range o {
				o[i] = a[i] / b[i]
			}
			return
		}
	}
	if sa == 1 && sb == 0 {
		a, s := a[:n], b[0]
		switch op {
		case opAdd:
			for i := range o {
				o[i] = a[i] + s
			}
			return
		case opSub:
			for i := range o {
				o[i] = a[i] - s
			}
			return
		case opMul:
			for i := range o {
				o[i] = a[i] * s
			}
			return
		case opDiv:
			for i := range o {
				o[i] = a[i] / s
			}
			return
		case opPow:
			if s == 2 {
				for i := range o {
					o[i] = a[i] * a[i]
				}
				return
			}
		}
	}
	if sa == 0 && sb == 1 {
		s, b := a[0], b[:n]
		switch op {
		case opAdd:
			for i := range o {
				o[i] = s + b[i]
			}
			return
		case opMul:
			for i := range o {
				o[i] = s * b[i]
			}
			return
		}
	}
	ia, ib := 0, 0
	for i := range o {
		o[i] = binScalarF32(op, a[ia], b[ib])
		ia += sa
		ib += sb
	}
}

func binScalarF32(op binOp, x, y float32) float32 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opPow:
		if y == 2 {
			return x * x
		}
		return float32(math.Pow(float64(x), float64(y)))
	case opMax:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return max(x, y)
	default:
		if x != x || y != y {
			return float32(math.NaN())
		}
		return min(x, y)
	}
}

func binF64(op binOp, x, y float64) float64 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opPow:
		return math.Pow(x, y)
	case opMax:
		if x != x || y != y {
			return math.NaN()
		}
		return max(x, y)
	default:
		if x != x || y != y {
			return math.NaN()
		}
		return min(x, y)
	}
}

func binI64(op binOp, x, y int64) (int64, error) {
	switch op {
	case opAdd:
		return x + y, nil
	case opSub:
		return x - y, nil
	case opMul:
		return x * y, nil
	case opDiv:
		if y == 0 {
			return 0, fmt.Errorf("integer division by zero")
		}
		return x / y, nil
	case opPow:
		if y < 0 {
			return 0, fmt.Errorf("integer power with negative exponent %d", y)
		}
		r := int64(1)
		for ; y > 0; y-- {
			r *= x
		}
		return r, nil
	case opMax:
		return max(x, y), nil
	default:
		return min(x, y), nil
	}
}

// ── Where, Cast ─────────────────────────────────────────────────────────

func buildWhere(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		cond, a, b := in[0], in[1], in[2]
		shape, err := broadcastShape(cond.Shape, a.Shape, b.Shape)
		if err != nil {
			return nil, err
		}
		outT := graph.Promote(a.DType, b.DType)
		it := newBcastIter(shape, cond.Shape, a.Shape, b.Shape)
		offs := make([]int, 3)
		if outT == graph.F32 && a.DType == graph.F32 && b.DType == graph.F32 {
			out := e.alloc(graph.F32, shape...)
			o, av, bv := out.F32(), a.F32(), b.F32()
			for r := 0; r < it.rows(); r++ {
				it.offsets(r, offs)
				ic, ia, ib := offs[0], offs[1], offs[2]
				for i := r * it.n; i < (r+1)*it.n; i++ {
					if cond.Float64At(ic) != 0 {
						o[i] = av[ia]
					} else {
						o[i] = bv[ib]
					}
					ic += it.inner[0]
					ia += it.inner[1]
					ib += it.inner[2]
				}
			}
			return out, nil
		}
		out := e.alloc(outT, shape...)
		ac, bc := a.Convert(outT), b.Convert(outT)
		es := outT.Size()
		ob, ab, bb := out.Bytes(), ac.Bytes(), bc.Bytes()
		for r := 0; r < it.rows(); r++ {
			it.offsets(r, offs)
			ic, ia, ib := offs[0], offs[1], offs[2]
			for i := r * it.n; i < (r+1)*it.n; i++ {
				if cond.Float64At(ic) != 0 {
					copy(ob[i*es:(i+1)*es], ab[ia*es:])
				} else {
					copy(ob[i*es:(i+1)*es], bb[ib*es:])
				}
				ic += it.inner[0]
				ia += it.inner[1]
				ib += it.inner[2]
			}
		}
		return out, nil
	}, nil
}

func buildCast(c *compiler, n *graph.Node, in []graph.TensorType) (kernel, error) {
	to, err := graph.ParseDType(n.Str("to"))
	if err != nil {
		return nil, err
	}
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		if x.DType == to {
			return x, nil
		}
		out := e.alloc(to, x.Shape...)
		if to == graph.F32 {
			f := out.F32()
			e.parallel(len(f), 32768, func(lo, hi int) {
				es := x.DType.Size()
				tensor.ConvertToF32(f[lo:hi], x.DType, x.Bytes()[lo*es:hi*es])
			})
			return out, nil
		}
		tensor.ConvertBytes(out.Bytes(), to, x.Bytes(), x.DType)
		return out, nil
	}, nil
}
