package graph

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Dim is one dimension of a tensor type: either a static size or a symbolic
// size. Symbolic sizes are sums of named symbols and a constant, written in
// canonical form ("batch", "seq", "past+seq", "past+1"), so two dims are
// equal exactly when their canonical strings are. "?" is an unknown size that
// matches anything; shape inference produces it only where no better answer
// exists (for example slicing a symbolic dim at a computed bound).
type Dim struct {
	Size int64  // the size when Sym is empty
	Sym  string // canonical symbolic expression, or "" for a static dim
}

// Unknown is the dim of unknown size.
var Unknown = Dim{Sym: "?"}

// D returns a static dim.
func D(n int64) Dim { return Dim{Size: n} }

// S returns a symbolic dim; sym may be a sum such as "past+seq" and is
// canonicalised. A purely numeric sum gives a static dim.
func S(sym string) Dim {
	d, err := ParseDim(sym)
	if err != nil {
		return Unknown
	}
	return d
}

// Static reports whether the dim has a known size.
func (d Dim) Static() bool { return d.Sym == "" }

// IsUnknown reports whether the dim is "?".
func (d Dim) IsUnknown() bool { return d.Sym == "?" }

func (d Dim) String() string {
	if d.Sym != "" {
		return d.Sym
	}
	return strconv.FormatInt(d.Size, 10)
}

// Equal reports whether two dims are provably equal.
func (d Dim) Equal(e Dim) bool { return d.Sym == e.Sym && (d.Sym != "" || d.Size == e.Size) }

// Compatible reports whether two dims may be equal: equal, or one unknown.
func (d Dim) Compatible(e Dim) bool { return d.Equal(e) || d.IsUnknown() || e.IsUnknown() }

// terms splits a dim into symbol counts and a constant.
func (d Dim) terms() (map[string]int, int64, bool) {
	if d.IsUnknown() {
		return nil, 0, false
	}
	if d.Static() {
		return map[string]int{}, d.Size, true
	}
	syms := map[string]int{}
	var c int64
	for _, t := range strings.Split(d.Sym, "+") {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			c += n
			continue
		}
		syms[t]++
	}
	return syms, c, true
}

func fromTerms(syms map[string]int, c int64) Dim {
	if len(syms) == 0 {
		return D(c)
	}
	var parts []string
	for s, n := range syms {
		for i := 0; i < n; i++ {
			parts = append(parts, s)
		}
	}
	sort.Strings(parts)
	if c != 0 {
		parts = append(parts, strconv.FormatInt(c, 10))
	}
	return Dim{Sym: strings.Join(parts, "+")}
}

// Add returns d+e, symbolic where needed ("past" + "seq" = "past+seq").
func (d Dim) Add(e Dim) Dim {
	a, ca, ok1 := d.terms()
	b, cb, ok2 := e.terms()
	if !ok1 || !ok2 {
		return Unknown
	}
	for s, n := range b {
		a[s] += n
	}
	return fromTerms(a, ca+cb)
}

// Sub returns d-e when it can be expressed (e's symbols all occur in d), else Unknown.
func (d Dim) Sub(e Dim) Dim {
	a, ca, ok1 := d.terms()
	b, cb, ok2 := e.terms()
	if !ok1 || !ok2 {
		return Unknown
	}
	for s, n := range b {
		if a[s] < n {
			return Unknown
		}
		a[s] -= n
		if a[s] == 0 {
			delete(a, s)
		}
	}
	if ca-cb < 0 {
		return Unknown // canonical dims have no negative constant term
	}
	return fromTerms(a, ca-cb)
}

// ParseDim parses "64", "seq", "past+seq", "past+1" or "?".
func ParseDim(s string) (Dim, error) {
	s = strings.TrimSpace(s)
	if s == "?" {
		return Unknown, nil
	}
	if s == "" {
		return Dim{}, fmt.Errorf("empty dim")
	}
	syms := map[string]int{}
	var c int64
	for _, t := range strings.Split(s, "+") {
		t = strings.TrimSpace(t)
		if t == "" {
			return Dim{}, fmt.Errorf("malformed dim %q", s)
		}
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			if n < 0 {
				return Dim{}, fmt.Errorf("negative dim %q", s)
			}
			c += n
			continue
		}
		if !validSymbol(t) {
			return Dim{}, fmt.Errorf("malformed dim symbol %q in %q", t, s)
		}
		syms[t]++
	}
	return fromTerms(syms, c), nil
}

func validSymbol(s string) bool {
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// Shape is a list of dims, outermost first. A nil Shape is a scalar.
type Shape []Dim

// StaticShape builds a shape of static dims.
func StaticShape(dims ...int64) Shape {
	s := make(Shape, len(dims))
	for i, n := range dims {
		s[i] = D(n)
	}
	return s
}

// Rank is the number of dims.
func (s Shape) Rank() int { return len(s) }

// Static reports whether every dim is static.
func (s Shape) Static() bool {
	for _, d := range s {
		if !d.Static() {
			return false
		}
	}
	return true
}

// NumElements returns the element count of a static shape, or -1.
func (s Shape) NumElements() int64 {
	n := int64(1)
	for _, d := range s {
		if !d.Static() {
			return -1
		}
		n *= d.Size
	}
	return n
}

// Ints returns the sizes of a static shape (and false if any dim is symbolic).
func (s Shape) Ints() ([]int64, bool) {
	out := make([]int64, len(s))
	for i, d := range s {
		if !d.Static() {
			return nil, false
		}
		out[i] = d.Size
	}
	return out, true
}

// Equal reports whether the shapes are provably equal.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if !s[i].Equal(t[i]) {
			return false
		}
	}
	return true
}

// Compatible reports whether the shapes may be equal (unknown dims match anything).
func (s Shape) Compatible(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if !s[i].Compatible(t[i]) {
			return false
		}
	}
	return true
}

// Clone returns a copy of the shape.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// ParseShape parses the String form, e.g. "[batch,seq,64]".
func ParseShape(s string) (Shape, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("malformed shape %q", s)
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return Shape{}, nil
	}
	var out Shape
	for _, p := range strings.Split(body, ",") {
		d, err := ParseDim(p)
		if err != nil {
			return nil, fmt.Errorf("shape %q: %w", s, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// TensorType is the type of a value: element type and shape.
type TensorType struct {
	DType DType
	Shape Shape
}

// T is shorthand for a TensorType.
func T(dt DType, shape ...Dim) TensorType { return TensorType{DType: dt, Shape: Shape(shape)} }

func (t TensorType) String() string { return t.DType.String() + t.Shape.String() }

// Equal reports whether the types are provably equal.
func (t TensorType) Equal(u TensorType) bool { return t.DType == u.DType && t.Shape.Equal(u.Shape) }

// Compatible reports whether the types may be equal.
func (t TensorType) Compatible(u TensorType) bool {
	return t.DType == u.DType && t.Shape.Compatible(u.Shape)
}

// ByteSize returns the storage size of a static-shaped tensor, or -1.
func (t TensorType) ByteSize() int64 {
	n := t.Shape.NumElements()
	if n < 0 {
		return -1
	}
	return n * int64(t.DType.Size())
}

// Broadcast returns the numpy-broadcast shape of a and b.
func Broadcast(a, b Shape) (Shape, error) {
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	out := make(Shape, n)
	for i := 0; i < n; i++ {
		var da, db Dim = D(1), D(1)
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da.Equal(db):
			out[i] = da
		case da.Static() && da.Size == 1:
			out[i] = db
		case db.Static() && db.Size == 1:
			out[i] = da
		case da.IsUnknown():
			out[i] = db
		case db.IsUnknown():
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %s and %s do not broadcast (dim %d: %s vs %s)", a, b, i, da, db)
		}
	}
	return out, nil
}
