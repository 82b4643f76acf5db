package graph

import (
	"errors"
	"strconv"
)

// DType is the element type of a tensor value.
type DType uint8

// The element types the IR knows. The numeric values are part of ABI v1
// (abi/graph.proto enum DType) and must never change.
const (
	InvalidDType DType = iota
	F32
	F16
	BF16
	F64
	I64
	I32
	I8
	U8
	U32 // also the storage type of affine-quantized weights (packed words)
	Bool
)

var dtypeNames = [...]string{
	InvalidDType: "invalid",
	F32:          "f32",
	F16:          "f16",
	BF16:         "bf16",
	F64:          "f64",
	I64:          "i64",
	I32:          "i32",
	I8:           "i8",
	U8:           "u8",
	U32:          "u32",
	Bool:         "bool",
}

var dtypeSizes = [...]int{F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I8: 1, U8: 1, U32: 4, Bool: 1}

// String returns the short name used in text output, attributes and the DOT export.
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")" // no fmt: pass modules link this
}

// Size is the number of bytes one element occupies, 0 for an invalid dtype.
func (d DType) Size() int {
	if int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// Valid reports whether d is one of the known dtypes.
func (d DType) Valid() bool { return d > InvalidDType && d <= Bool }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// IsInt reports whether d is an integer type (signed or unsigned).
func (d DType) IsInt() bool { return d == I64 || d == I32 || d == I8 || d == U8 || d == U32 }

// ParseDType parses the short names of String, plus the safetensors spellings
// (F32, BF16, I64 ...) and a few common aliases.
func ParseDType(s string) (DType, error) {
	switch s {
	case "f32", "F32", "float32", "float":
		return F32, nil
	case "f16", "F16", "float16", "half":
		return F16, nil
	case "bf16", "BF16", "bfloat16":
		return BF16, nil
	case "f64", "F64", "float64", "double":
		return F64, nil
	case "i64", "I64", "int64":
		return I64, nil
	case "i32", "I32", "int32":
		return I32, nil
	case "i8", "I8", "int8":
		return I8, nil
	case "u8", "U8", "uint8":
		return U8, nil
	case "u32", "U32", "uint32":
		return U32, nil
	case "bool", "BOOL":
		return Bool, nil
	}
	return InvalidDType, errors.New("unknown dtype " + strconv.Quote(s))
}

// Promote returns the dtype of an elementwise result of a and b. Floats win
// over integers; among floats the wider wins, and mixing the two 16-bit
// formats gives f32. This is how activations in f32 meet bf16 weights.
func Promote(a, b DType) DType {
	if a == b {
		return a
	}
	switch {
	case a.IsFloat() && !b.IsFloat():
		return a
	case b.IsFloat() && !a.IsFloat():
		return b
	case a.IsFloat() && b.IsFloat():
		if a == F64 || b == F64 {
			return F64
		}
		return F32
	}
	// Both integer/bool: the wider one.
	if a.Size() >= b.Size() {
		return a
	}
	return b
}
