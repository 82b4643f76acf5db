package graph

import (
	"strconv"
	"strings"
)

// AttrKind says which field of an Attr holds its value.
type AttrKind uint8

// Attribute kinds. The numeric values are part of ABI v1.
const (
	AttrInvalid AttrKind = iota
	AttrInt
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
	AttrStrings
)

var attrKindNames = [...]string{"invalid", "int", "float", "string", "ints", "floats", "strings"}

func (k AttrKind) String() string {
	if int(k) < len(attrKindNames) {
		return attrKindNames[k]
	}
	return "attrkind(" + strconv.Itoa(int(k)) + ")"
}

// Attr is a typed node attribute. Exactly the field named by Kind is meaningful.
type Attr struct {
	Kind    AttrKind
	Int     int64
	Float   float64
	Str     string
	Ints    []int64
	Floats  []float64
	Strings []string
}

// Int returns an int attribute.
func Int(v int64) Attr { return Attr{Kind: AttrInt, Int: v} }

// Float returns a float attribute.
func Float(v float64) Attr { return Attr{Kind: AttrFloat, Float: v} }

// String returns a string attribute.
func String(v string) Attr { return Attr{Kind: AttrString, Str: v} }

// Ints returns an int-list attribute.
func Ints(v ...int64) Attr { return Attr{Kind: AttrInts, Ints: v} }

// Floats returns a float-list attribute.
func Floats(v ...float64) Attr { return Attr{Kind: AttrFloats, Floats: v} }

// Strings returns a string-list attribute.
func Strings(v ...string) Attr { return Attr{Kind: AttrStrings, Strings: v} }

// Equal reports whether two attributes hold the same kind and value.
func (a Attr) Equal(b Attr) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case AttrInt:
		return a.Int == b.Int
	case AttrFloat:
		return a.Float == b.Float
	case AttrString:
		return a.Str == b.Str
	case AttrInts:
		return equalSlices(a.Ints, b.Ints)
	case AttrFloats:
		return equalSlices(a.Floats, b.Floats)
	case AttrStrings:
		return equalSlices(a.Strings, b.Strings)
	}
	return true
}

func equalSlices[T comparable](a, b []T) bool {
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

func (a Attr) String() string {
	switch a.Kind {
	case AttrInt:
		return strconv.FormatInt(a.Int, 10)
	case AttrFloat:
		return strconv.FormatFloat(a.Float, 'g', -1, 64)
	case AttrString:
		return strconv.Quote(a.Str)
	case AttrInts:
		parts := make([]string, len(a.Ints))
		for i, v := range a.Ints {
			parts[i] = strconv.FormatInt(v, 10)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case AttrFloats:
		parts := make([]string, len(a.Floats))
		for i, v := range a.Floats {
			parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case AttrStrings:
		parts := make([]string, len(a.Strings))
		for i, v := range a.Strings {
			parts[i] = strconv.Quote(v)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return "<invalid>"
}

func (a Attr) clone() Attr {
	a.Ints = append([]int64(nil), a.Ints...)
	a.Floats = append([]float64(nil), a.Floats...)
	a.Strings = append([]string(nil), a.Strings...)
	return a
}
