// Package tensor is a small dense host tensor: an element type, a static
// row-major shape and the element bytes, with typed views (f32, i64, bool,
// u32, raw 16-bit), conversions between the float formats, random fills,
// the error measures the reference fixtures use, and a minimal safetensors
// reader and writer for test data.
//
// A Tensor never copies behind the caller's back: FromBytes wraps the given
// bytes (for example a memory-mapped weight), and the typed views alias the
// same storage. Tensors made by New are 8-byte aligned, so every view is
// valid; wrapped bytes must be aligned to their element size.
package tensor

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/graphpass/graphpass/graph"
)

// Tensor is a dense row-major tensor of one element type.
type Tensor struct {
	DType graph.DType
	Shape []int
	data  []byte
}

// NumElements returns the product of shape (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Strides returns the row-major element strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = st
		st *= shape[i]
	}
	return s
}

// alloc returns n zero bytes whose first byte is 8-byte aligned.
func alloc(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	words := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), n)
}

// New returns a zeroed tensor.
func New(dt graph.DType, shape ...int) *Tensor {
	if !dt.Valid() {
		panic(fmt.Sprintf("tensor: New with invalid dtype %d", dt))
	}
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dim in shape %v", shape))
		}
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), data: alloc(NumElements(shape) * dt.Size())}
}

// FromBytes wraps b (not copied) as a tensor. It fails when the length does
// not match the shape or the bytes are misaligned for the element type.
func FromBytes(dt graph.DType, shape []int, b []byte) (*Tensor, error) {
	if !dt.Valid() {
		return nil, fmt.Errorf("tensor: invalid dtype %d", dt)
	}
	n := NumElements(shape)
	if n*dt.Size() != len(b) {
		return nil, fmt.Errorf("tensor: %s%v needs %d bytes, got %d", dt, shape, n*dt.Size(), len(b))
	}
	if len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%uintptr(dt.Size()) != 0 {
		return nil, fmt.Errorf("tensor: %s data is not %d-byte aligned", dt, dt.Size())
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), data: b}, nil
}

// FromF32 returns an f32 tensor holding a copy of v.
func FromF32(shape []int, v []float32) *Tensor {
	t := New(graph.F32, shape...)
	mustLen(t, len(v))
	copy(t.F32(), v)
	return t
}

// FromI64 returns an i64 tensor holding a copy of v.
func FromI64(shape []int, v []int64) *Tensor {
	t := New(graph.I64, shape...)
	mustLen(t, len(v))
	copy(t.I64(), v)
	return t
}

// FromBool returns a bool tensor holding a copy of v.
func FromBool(shape []int, v []bool) *Tensor {
	t := New(graph.Bool, shape...)
	mustLen(t, len(v))
	copy(t.Bool(), v)
	return t
}

// Scalar returns a rank-0 f32 tensor.
func Scalar(v float32) *Tensor { return FromF32(nil, []float32{v}) }

func mustLen(t *Tensor, n int) {
	if t.Len() != n {
		panic(fmt.Sprintf("tensor: %d values for shape %v", n, t.Shape))
	}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank is the number of dims.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Bytes returns the element bytes (aliased, little-endian).
func (t *Tensor) Bytes() []byte { return t.data }

// Type returns the graph type of t (all dims static).
func (t *Tensor) Type() graph.TensorType {
	s := make(graph.Shape, len(t.Shape))
	for i, d := range t.Shape {
		s[i] = graph.D(int64(d))
	}
	return graph.TensorType{DType: t.DType, Shape: s}
}

func (t *Tensor) view(want graph.DType, name string) unsafe.Pointer {
	if t.DType != want {
		panic(fmt.Sprintf("tensor: %s view of a %s tensor", name, t.DType))
	}
	return unsafe.Pointer(unsafe.SliceData(t.data))
}

// F32 returns the elements of an f32 tensor (aliased). It panics for other dtypes.
func (t *Tensor) F32() []float32 {
	return unsafe.Slice((*float32)(t.view(graph.F32, "F32")), len(t.data)/4)
}

// F64 returns the elements of an f64 tensor (aliased).
func (t *Tensor) F64() []float64 {
	return unsafe.Slice((*float64)(t.view(graph.F64, "F64")), len(t.data)/8)
}

// I64 returns the elements of an i64 tensor (aliased).
func (t *Tensor) I64() []int64 {
	return unsafe.Slice((*int64)(t.view(graph.I64, "I64")), len(t.data)/8)
}

// I32 returns the elements of an i32 tensor (aliased).
func (t *Tensor) I32() []int32 {
	return unsafe.Slice((*int32)(t.view(graph.I32, "I32")), len(t.data)/4)
}

// U32 returns the elements of a u32 tensor (aliased), e.g. packed quantized words.
func (t *Tensor) U32() []uint32 {
	return unsafe.Slice((*uint32)(t.view(graph.U32, "U32")), len(t.data)/4)
}

// Bool returns the elements of a bool tensor (aliased).
func (t *Tensor) Bool() []bool {
	return unsafe.Slice((*bool)(t.view(graph.Bool, "Bool")), len(t.data))
}

// Bits16 returns the raw elements of a bf16 or f16 tensor (aliased).
func (t *Tensor) Bits16() []uint16 {
	if t.DType != graph.BF16 && t.DType != graph.F16 {
		panic(fmt.Sprintf("tensor: Bits16 view of a %s tensor", t.DType))
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(t.data))), len(t.data)/2)
}

// Reshape returns a tensor sharing t's data with a new shape of the same size.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if NumElements(shape) != t.Len() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{DType: t.DType, Shape: append([]int{}, shape...), data: t.data}
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := New(t.DType, t.Shape...)
	copy(c.data, t.data)
	return c
}

// ToF32 returns the elements converted to float32 (a fresh slice for every
// dtype, so the caller may modify it). Bools become 0/1.
func (t *Tensor) ToF32() []float32 {
	out := make([]float32, t.Len())
	ConvertToF32(out, t.DType, t.data)
	return out
}

// ToF64 returns the elements converted to float64.
func (t *Tensor) ToF64() []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out
}

// ToI64 returns the elements converted to int64 (floats truncate toward zero).
func (t *Tensor) ToI64() []int64 {
	out := make([]int64, t.Len())
	for i := range out {
		out[i] = t.Int64At(i)
	}
	return out
}

// Convert returns t converted to dt (floats round to nearest even, floats to
// integers truncate), a clone when dt is t's dtype.
func (t *Tensor) Convert(dt graph.DType) *Tensor {
	out := New(dt, t.Shape...)
	ConvertBytes(out.data, dt, t.data, t.DType)
	return out
}

func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%v", t.DType, t.Shape)
	n := t.Len()
	if n > 8 {
		n = 8
	}
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		if t.DType.IsFloat() {
			fmt.Fprintf(&b, "%g", t.Float64At(i))
		} else {
			fmt.Fprintf(&b, "%d", t.Int64At(i))
		}
	}
	if t.Len() > n {
		b.WriteString(" …")
	}
	b.WriteString("}")
	return b.String()
}
