package sdk_test

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"testing"

	"github.com/graphpass/graphpass/graph"
	"github.com/graphpass/graphpass/sdk"
)

type point struct {
	X, Y int
	name string
}

type named string

type stringerPtr struct{ n int }

func (s *stringerPtr) String() string { return fmt.Sprint("sp", s.n) }

// TestSprintfMatchesFmt: sdk.Sprintf formats like fmt.Sprintf.
func TestSprintfMatchesFmt(t *testing.T) {
	shape := graph.Shape{graph.S("batch"), graph.D(8)}
	var nilErr error
	var nilSP *stringerPtr
	cases := []struct {
		format string
		args   []any
	}{
		{"plain text", nil},
		{"100%%", nil},
		{"%s %v %q %x %X % x %#x", []any{"a", "b", "c\n\"", "hi", "hi", "hi", "hi"}},
		{"%5s|%-5s|%.2s|%05s|%.1q", []any{"ab", "ab", "abc", "ab", "xyz"}},
		{"%d %v %+d % d %5d %-5d| %05d %.3d %x %X %o %#o %b %#x %#b %O", []any{42, -7, 3, 3, 42, 42, -42, 7, 255, 255, 8, 8, 5, -255, 5, 8}},
		{"%d %d %d %d %d %d %d %d %d %d", []any{int8(-8), int16(-16), int32(-32), int64(-64), uint(1), uint8(8), uint16(16), uint32(32), uint64(math.MaxUint64), uintptr(9)}},
		{"%c %q %U", []any{'é', 'x', 'x'}},
		{"%v %g %f %.2f %e %E %G %8.3f|%-8.2f|%08.3f %+.1f % .1f", []any{1.5, 1e21, math.Pi, math.Pi, 123456.789, 0.000123, 1e-7, -math.Pi, 2.5, -3.14159, 2.0, 2.0}},
		{"%v %v %v %v %v %v", []any{1000000.0, 1e-5, 0.1, float32(0.1), 100.0, 123456789.0}},
		{"%v %v %v %5.1f %f", []any{math.Inf(1), math.Inf(-1), math.NaN(), math.Inf(1), math.NaN()}},
		{"%g", []any{0.1 + 0.2}},
		{"%t %v %5t", []any{true, false, true}},
		{"%v %s %d", []any{nil, nil, nil}},
		{"%v %s %q", []any{errors.New("boom"), io.EOF, errors.New("q")}},
		{"%v %s|%10s|", []any{shape, shape, graph.S("seq")}},
		{"%v %s", []any{graph.F32, graph.T(graph.BF16, graph.D(2), graph.S("past+seq"))}},
		{"%v %v %v %v", []any{[]int64{-1, 2}, []string{"a", "b"}, []float64{0.5, 1e20}, [2]bool{true, false}}},
		{"%v %+v %v", []any{point{1, 2, "p"}, point{1, 2, "p"}, &point{3, 4, "q"}}},
		{"%v %v", []any{map[string]int{"b": 2, "a": 1}, map[int]string{10: "x", 9: "y"}}},
		{"%v %s", []any{named("n"), named("m")}},
		{"%T %T %T %T", []any{1, "s", shape, nil}},
		{"%v %s", []any{nilErr, nilSP}},
		{"%v", []any{[]any{1, "a", nil, 2.5}}},
		{"%v", []any{[]graph.Dim{graph.D(1), graph.S("batch")}}},
		{"%s", []any{[]byte("bytes")}},
		{"%v", []any{[]byte("ab")}},
		{"%*d|%-*d|%.*f", []any{5, 42, 5, 42, 2, math.Pi}},
		{"%d %s", []any{"str", 42}},
		{"%d", nil},
		{"%d", []any{1, 2, "x"}},
		{"%!", nil},
		{"%z", []any{1}},
		{"trailing %", nil},
		{"%x %X", []any{[]byte{1, 0xab}, "\xff"}},
		{"%6.2f%%", []any{99.5}},
	}
	for _, c := range cases {
		want := fmt.Sprintf(c.format, c.args...)
		if got := sdk.Sprintf(c.format, c.args...); got != want {
			t.Errorf("Sprintf(%q, %#v)\n got  %q\n want %q", c.format, c.args, got, want)
		}
	}
}

// TestSprintfExtraResetsFlags: operands left over (%!(EXTRA ...)) are
// formatted with no flags, whatever the last verb had: %+v's field names
// included.
func TestSprintfExtraResetsFlags(t *testing.T) {
	cases := []struct {
		format string
		args   []any
	}{
		{"%+v", []any{point{1, 2, "p"}, point{3, 4, "q"}}},
		{"%+v", []any{1, point{3, 4, "q"}, &point{5, 6, "r"}}},
		{"%+d %-8.3v|", []any{1, 2.5, point{3, 4, "q"}, 7}},
		{"%#x %05.1f", []any{255, 1.5, 255, 2.5}},
	}
	for _, c := range cases {
		want := fmt.Sprintf(c.format, c.args...)
		if got := sdk.Sprintf(c.format, c.args...); got != want {
			t.Errorf("Sprintf(%q, %#v)\n got  %q\n want %q", c.format, c.args, got, want)
		}
	}
}

func TestErrorfWraps(t *testing.T) {
	base := errors.New("base")
	err := sdk.Errorf("rule %s: %w", "x", base)
	if err.Error() != "rule x: base" || !errors.Is(err, base) {
		t.Errorf("%v", err)
	}
	two := sdk.Errorf("%w and %w", base, io.EOF)
	if !errors.Is(two, base) || !errors.Is(two, io.EOF) || two.Error() != "base and EOF" {
		t.Errorf("%v", two)
	}
	if e := sdk.Errorf("plain %d", 1); e.Error() != "plain 1" || errors.Unwrap(e) != nil {
		t.Errorf("%v", e)
	}
	notAnError := []any{"notanerror"}
	if e, want := sdk.Errorf("%w", notAnError...), fmt.Errorf("%w", notAnError...); e.Error() != want.Error() {
		t.Errorf("%q vs %q", e, want)
	}
}

// wellFormed matches formats of the documented subset: literal text and
// verbs with flags, width and precision (# is covered by the table test:
// fmt gives it meanings on floats and %v that Sprintf leaves out).
var wellFormed = regexp.MustCompile(`^([^%]|%[-+ 0]*[0-9]{0,3}(\.[0-9]{1,3})?[vsdqxXgGfFeEtcbo%])*$`)

// FuzzSprintf: any format and operands format without panicking, and a
// well-formed format exactly as fmt formats it.
func FuzzSprintf(f *testing.F) {
	f.Add("%d %s %v", int64(3), "x", 1.5)
	f.Add("%08.3f|%-5q|%x", int64(-7), "é", math.Inf(1))
	f.Fuzz(func(t *testing.T, format string, i int64, s string, x float64) {
		got := sdk.Sprintf(format, i, s, x)
		if !wellFormed.MatchString(format) {
			return
		}
		if want := fmt.Sprintf(format, i, s, x); got != want {
			t.Fatalf("Sprintf(%q, %d, %q, %v) = %q, fmt says %q", format, i, s, x, got, want)
		}
	})
}
