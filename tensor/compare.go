package tensor

import (
	"fmt"
	"math"
)

// Diff summarises how far a result is from a reference.
type Diff struct {
	MaxAbs float64 // max |got - ref|
	MaxRef float64 // max |ref|
	Rel    float64 // MaxAbs / MaxRef (MaxAbs when ref is all zero); the fixtures' measure
	Index  int     // flat index of the largest difference
	NaN    bool    // got has a NaN or Inf where ref is finite
}

func (d Diff) String() string {
	return fmt.Sprintf("max-abs %.3g (at %d), max-ref %.3g, rel %.3g", d.MaxAbs, d.Index, d.MaxRef, d.Rel)
}

// Compare measures got against ref elementwise (the slices must have the
// same length). Rel is max|got-ref| / max|ref|, as the fixtures' README
// defines relative error.
func Compare(got, ref []float32) Diff {
	if len(got) != len(ref) {
		panic(fmt.Sprintf("tensor: Compare of %d and %d values", len(got), len(ref)))
	}
	var d Diff
	for i := range ref {
		r, g := float64(ref[i]), float64(got[i])
		if a := math.Abs(r); a > d.MaxRef {
			d.MaxRef = a
		}
		if math.IsNaN(g) || math.IsInf(g, 0) {
			if !(math.IsNaN(r) || math.IsInf(r, 0)) {
				d.NaN = true
				d.Index = i
			}
			continue
		}
		if e := math.Abs(g - r); e > d.MaxAbs {
			d.MaxAbs, d.Index = e, i
		}
	}
	d.Rel = d.MaxAbs
	if d.MaxRef > 0 {
		d.Rel = d.MaxAbs / d.MaxRef
	}
	if d.NaN {
		d.Rel, d.MaxAbs = math.Inf(1), math.Inf(1)
	}
	return d
}

// MaxAbsErr returns max |a-b|.
func MaxAbsErr(a, b []float32) float64 { return Compare(a, b).MaxAbs }

// RelErr returns max|got-ref| / max|ref|.
func RelErr(got, ref []float32) float64 { return Compare(got, ref).Rel }

// CompareTensors checks shapes and compares the values as f32 (any dtype).
func CompareTensors(got, ref *Tensor) (Diff, error) {
	if !sameShape(got.Shape, ref.Shape) {
		return Diff{}, fmt.Errorf("shape %v, want %v", got.Shape, ref.Shape)
	}
	return Compare(got.ToF32(), ref.ToF32()), nil
}

// Equal reports whether two tensors have the same dtype, shape and bytes.
func Equal(a, b *Tensor) bool {
	if a.DType != b.DType || !sameShape(a.Shape, b.Shape) || len(a.data) != len(b.data) {
		return false
	}
	for i := range a.data {
		if a.data[i] != b.data[i] {
			return false
		}
	}
	return true
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
