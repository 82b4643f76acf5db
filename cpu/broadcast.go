package cpu

import "fmt"

// bcastIter walks the elements of a broadcast elementwise op: for each run
// of the innermost (collapsed) dim it gives the output offset and every
// input's offset; within a run, input k advances by inner[k] (0 or 1 ...).
type bcastIter struct {
	dims    []int   // collapsed output dims, innermost last
	strides [][]int // per input, per collapsed dim; 0 where broadcast
	inner   []int   // per input, stride of the innermost dim
	n       int     // innermost run length
	total   int
}

// broadcastShape returns numpy's broadcast of shapes.
func broadcastShape(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

func newBcastIter(out []int, ins ...[]int) bcastIter {
	rank := len(out)
	// Per-input strides aligned to the output's rank.
	full := make([][]int, len(ins))
	for k, s := range ins {
		st := make([]int, rank)
		acc := 1
		for i := len(s) - 1; i >= 0; i-- {
			j := rank - len(s) + i
			if s[i] != 1 {
				st[j] = acc
			}
			acc *= s[i]
		}
		full[k] = st
	}
	// Collapse: drop size-1 dims, merge a dim into the next when every
	// input walks them as one.
	var dims []int
	strides := make([][]int, len(ins))
	for i := 0; i < rank; i++ {
		if out[i] == 1 {
			continue
		}
		if len(dims) > 0 {
			last := len(dims) - 1
			merge := true
			for k := range ins {
				if strides[k][last] != full[k][i]*out[i] {
					merge = false
					break
				}
			}
			if merge {
				dims[last] *= out[i]
				for k := range ins {
					strides[k][last] = full[k][i]
				}
				continue
			}
		}
		dims = append(dims, out[i])
		for k := range ins {
			strides[k] = append(strides[k], full[k][i])
		}
	}
	it := bcastIter{dims: dims, strides: strides, inner: make([]int, len(ins)), n: 1, total: 1}
	for _, d := range out {
		it.total *= d
	}
	if len(dims) > 0 {
		it.n = dims[len(dims)-1]
		for k := range ins {
			it.inner[k] = strides[k][len(dims)-1]
		}
	}
	return it
}

// rows is the number of innermost runs.
func (it *bcastIter) rows() int {
	if it.n == 0 {
		return 0
	}
	return it.total / it.n
}

// offsets fills offs with each input's offset at the start of run r.
func (it *bcastIter) offsets(r int, offs []int) {
	for k := range offs {
		offs[k] = 0
	}
	for d := len(it.dims) - 2; d >= 0 && r > 0; d-- {
		i := r % it.dims[d]
		r /= it.dims[d]
		for k := range offs {
			offs[k] += i * it.strides[k][d]
		}
	}
}
