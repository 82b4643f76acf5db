package cpu

import (
	"slices"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/quant"
	"github.com/graphpass/graphpass/tensor"
)

// Fused epilogues: a product instruction that also runs the op consuming
// its output.
//
// Decoding a token, each layer's residual Adds and its SwiGLU run between
// the parallel product regions, on the calling thread alone: they read
// rows that the other cores have just written, and each costs an
// instruction's bookkeeping, whose data the product stream has evicted
// from the caches by then. fuseEpilogues folds them into the product
// region instead, where every thread adds the residual to, or gates, the
// rows it computed while they are in its L1.
//
// A fused instruction computes the same bits as the two ops apart: the
// same f32 operation per element, and a fused SwiGLU splits at multiples of
// 8 like SwiGLU's own kernel (productSet.piece). It falls back to the two
// ops in turn for several tokens and for operands the fused loop does not
// take (another dtype, a broadcast residual).

// fuseEpilogues replaces, in b, each one-token product instruction whose
// output only one op reads with one instruction that runs both, at the
// consumer's place (nothing between reads the product's output, and the
// consumer's other operands are ready there):
//
//   - a single product whose output only an Add reads: out = r + x·Wᵀ;
//   - a group of two products whose outputs only a SwiGLU reads, as its
//     gate and up: out = silu(x·Gᵀ) · (x·Uᵀ), the rows split in pairs.
func (c *compiler) fuseEpilogues(b *block) {
	readers := map[int][]*instr{} // slot → one entry per read
	for _, ins := range b.instrs {
		for _, s := range slices.Concat(ins.in, ins.subReads) {
			if s >= 0 {
				readers[s] = append(readers[s], ins)
			}
		}
	}
	for _, s := range b.outputs {
		readers[s] = append(readers[s], nil) // read by the caller
	}
	soleReader := func(s int) *instr {
		if r := readers[s]; len(r) == 1 {
			return r[0]
		}
		return nil
	}
	fusedAt := map[*instr]*instr{} // consumer → the instruction replacing it
	dropped := map[*instr]bool{}
	for _, p := range b.instrs {
		if p.product == nil {
			continue
		}
		consumer := soleReader(p.out[0])
		if consumer == nil || consumer.run == nil || fusedAt[consumer] != nil {
			continue
		}
		var f *instr
		switch {
		case p.grouped == 0 && p.run != nil && consumer.node.Op == "Add":
			r := consumer.in[0]
			if r == p.out[0] {
				r = consumer.in[1]
			}
			set := *p.product
			f = &instr{in: []int{p.in[0], r}, product: &set, run: residualProduct(set), fused: "QuantizedMatMul+Add"}
		case p.grouped == 2 && consumer.node.Op == "SwiGLU" && soleReader(p.out[1]) == consumer:
			gate, up := p.product.ms[0], p.product.ms[1]
			if consumer.in[0] == p.out[1] {
				gate, up = up, gate
			}
			if gate.Rows != up.Rows {
				continue
			}
			set := productSet{ms: []*quant.Matrix{gate, up}, paired: true}
			f = &instr{in: []int{p.in[0]}, product: &set, run: swigluProduct(set), fused: "QuantizedMatMul+SwiGLU"}
		default:
			continue
		}
		// Errors name the product's node.
		f.node, f.out, f.inBuf = p.node, consumer.out, make([]*tensor.Tensor, len(f.in))
		fusedAt[consumer], dropped[p] = f, true
	}
	kept := make([]*instr, 0, len(b.instrs))
	for _, ins := range b.instrs {
		switch {
		case dropped[ins]:
		case fusedAt[ins] != nil:
			kept = append(kept, fusedAt[ins])
		default:
			kept = append(kept, ins)
		}
	}
	b.instrs = kept
}

// oneTokenF32 reports whether the fused loops take x: one token of f32.
// The products of f32 x are f32 whatever the scales' dtype (bf16, f16 or
// f32), as quantizedProducts promotes.
func oneTokenF32(x *tensor.Tensor) bool {
	return x.DType == graph.F32 && x.Rank() >= 1 && x.Len() == x.Shape[x.Rank()-1]
}

// residualProduct is the kernel of a product fused with the Add that
// reads it: in is x and the Add's other operand r; out = r + x·Wᵀ.
func residualProduct(set productSet) kernel {
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x, r := in[0], in[1]
		if !oneTokenF32(x) || r.DType != graph.F32 || !slices.Equal(r.Shape, productShape(x, set.ms[0])) {
			outs, err := quantizedProducts(e, set, x, nil)
			if err != nil {
				return nil, err
			}
			out, err := e.binary(opAdd, r, outs[0])
			e.free(outs[0])
			return out, err
		}
		rv := r.F32()
		outs, err := quantizedProducts(e, set, x, func(lo, hi int, ys [][]float32) {
			y := ys[0][lo:hi]
			for j, v := range rv[lo:hi] {
				y[j] = v + y[j] // Add's f32 sum; the order does not change it
			}
		})
		if err != nil {
			return nil, err
		}
		return outs[0], nil
	}
}

// swigluProduct is the kernel of the gate and up products (set, paired)
// fused with the SwiGLU that reads them: out = silu(x·Gᵀ) · (x·Uᵀ).
func swigluProduct(set productSet) kernel {
	return func(e *exec, in []*tensor.Tensor) (*tensor.Tensor, error) {
		x := in[0]
		if !oneTokenF32(x) {
			outs, err := quantizedProducts(e, set, x, nil)
			if err != nil {
				return nil, err
			}
			out, err := e.swiglu(outs[0], outs[1])
			e.free(outs[0])
			e.free(outs[1])
			return out, err
		}
		out := e.alloc(graph.F32, productShape(x, set.ms[0])...)
		d := out.F32()
		outs, err := quantizedProducts(e, set, x, func(lo, hi int, ys [][]float32) {
			swigluF32(d[lo:hi], ys[0][lo:hi], ys[1][lo:hi])
		})
		if err != nil {
			e.free(out)
			return nil, err
		}
		e.free(outs[0])
		e.free(outs[1])
		return out, nil
	}
}
