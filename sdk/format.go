package sdk

import (
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Sprintf formats like fmt.Sprintf, for the verbs and operands messages of
// passes use, without linking package fmt: fmt (with os and the rest it
// pulls in) is most of what a Go pass module weighs beyond the runtime,
// and a module's size is its start-up time. Notes, reasons and log lines
// of the SDK (Context.Note, Rewrite.Reason, Context.Logf ...) are
// formatted with it.
//
// It handles the verbs %v %+v %s %q %d %b %o %O %x %X %c %U %e %E %f %F %g
// %G %t %T %w and %%, the flags + - 0 and space, width and precision (also
// as *), and # on integers and %q, for strings, byte slices, booleans,
// integers, floats, errors and Stringers, and (through reflection) slices,
// arrays, maps, structs and pointers to them, with fmt's output (tests
// compare the two). %#v is taken as %v. A verb that does not fit its
// operand is written as fmt writes it: %!d(string=x).
func Sprintf(format string, args ...any) string {
	var p printer
	p.printf(format, args)
	return string(p.buf)
}

// Errorf is fmt.Errorf on Sprintf: an error with the formatted message,
// which wraps the operand of a %w verb (formatted like %v).
func Errorf(format string, args ...any) error {
	var p printer
	p.printf(format, args)
	e := &wrapError{msg: string(p.buf)}
	for _, w := range p.wrapped {
		if w != nil {
			e.errs = append(e.errs, w)
		}
	}
	switch len(e.errs) {
	case 0:
		return errors.New(e.msg)
	case 1:
		return &wrapOne{msg: e.msg, err: e.errs[0]}
	}
	return e
}

type wrapOne struct {
	msg string
	err error
}

func (e *wrapOne) Error() string { return e.msg }
func (e *wrapOne) Unwrap() error { return e.err }

type wrapError struct {
	msg  string
	errs []error
}

func (e *wrapError) Error() string   { return e.msg }
func (e *wrapError) Unwrap() []error { return e.errs }

// printer is the state of one Sprintf.
type printer struct {
	buf     []byte
	wrapped []error
	verbFlags
}

// verbFlags are the flags, width and precision of the verb being
// formatted; plusV is %+v (field names). Each verb, and each operand left
// over for %!(EXTRA ...), starts from the zero value.
type verbFlags struct {
	plus, minus, sharp, zero, space, plusV bool
	wid, prec                              int
	hasWid, hasPrec                        bool
}

type stringer interface{ String() string }

func (p *printer) printf(format string, args []any) {
	argNum := 0
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			j := i
			for j < len(format) && format[j] != '%' {
				j++
			}
			p.buf = append(p.buf, format[i:j]...)
			i = j
			continue
		}
		i++
		p.verbFlags = verbFlags{}
	flags:
		for ; i < len(format); i++ {
			switch format[i] {
			case '+':
				p.plus = true
			case '-':
				p.minus = true
			case '#':
				p.sharp = true
			case '0':
				p.zero = true
			case ' ':
				p.space = true
			default:
				break flags
			}
		}
		if i < len(format) && format[i] == '*' {
			i++
			p.wid, p.hasWid, argNum = intArg(args, argNum)
			if !p.hasWid {
				p.buf = append(p.buf, "%!(BADWIDTH)"...)
			}
			if p.wid < 0 {
				p.minus, p.wid = true, -p.wid
			}
		} else {
			p.wid, p.hasWid, i = parseNum(format, i)
		}
		if i < len(format) && format[i] == '.' {
			i++
			if i < len(format) && format[i] == '*' {
				i++
				p.prec, p.hasPrec, argNum = intArg(args, argNum)
				if p.prec < 0 {
					p.prec, p.hasPrec = 0, false
				}
				if !p.hasPrec {
					p.buf = append(p.buf, "%!(BADPREC)"...)
				}
			} else {
				p.prec, _, i = parseNum(format, i)
				p.hasPrec = true
			}
		}
		if i >= len(format) {
			p.buf = append(p.buf, "%!(NOVERB)"...)
			break
		}
		verb, size := rune(format[i]), 1
		if verb >= utf8.RuneSelf {
			verb, size = utf8.DecodeRuneInString(format[i:])
		}
		i += size
		if verb == 'v' { // as fmt: %+v names struct fields, %#v is taken as %v
			p.plusV, p.plus, p.sharp = p.plus, false, false
		}
		switch {
		case verb == '%':
			p.buf = append(p.buf, '%')
		case argNum >= len(args):
			p.buf = append(p.buf, "%!"...)
			p.buf = utf8.AppendRune(p.buf, verb)
			p.buf = append(p.buf, "(MISSING)"...)
		case verb == 'w':
			if err, ok := args[argNum].(error); ok {
				p.wrapped = append(p.wrapped, err)
				p.arg(args[argNum], 'v')
			} else {
				p.badVerb(args[argNum], verb)
			}
			argNum++
		default:
			p.arg(args[argNum], verb)
			argNum++
		}
	}
	if argNum < len(args) {
		p.buf = append(p.buf, "%!(EXTRA "...)
		for i, a := range args[argNum:] {
			if i > 0 {
				p.buf = append(p.buf, ", "...)
			}
			if a == nil {
				p.buf = append(p.buf, "<nil>"...)
				continue
			}
			p.buf = append(p.buf, reflect.TypeOf(a).String()...)
			p.buf = append(p.buf, '=')
			p.verbFlags = verbFlags{}
			p.arg(a, 'v')
		}
		p.buf = append(p.buf, ')')
	}
}

func parseNum(s string, i int) (n int, ok bool, next int) {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n > 1e6 {
			return 0, false, len(s) // absurd width: fmt also gives up
		}
		n = n*10 + int(s[i]-'0')
		ok = true
		i++
	}
	return n, ok, i
}

// intArg is the int operand i for a * width or precision; like fmt, it
// refuses non-integers and magnitudes over a million.
func intArg(args []any, i int) (int, bool, int) {
	if i >= len(args) {
		return 0, false, i
	}
	var n int64
	switch v := args[i].(type) {
	case int:
		n = int64(v)
	case int8:
		n = int64(v)
	case int16:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case uint8:
		n = int64(v)
	case uint16:
		n = int64(v)
	case uint32:
		n = int64(v)
	default:
		return 0, false, i + 1
	}
	if n > 1e6 || n < -1e6 {
		return 0, false, i + 1
	}
	return int(n), true, i + 1
}

// pad writes s padded to the width.
func (p *printer) pad(s string) {
	n := utf8.RuneCountInString(s)
	if !p.hasWid || n >= p.wid {
		p.buf = append(p.buf, s...)
		return
	}
	fill := p.wid - n
	if p.minus {
		p.buf = append(p.buf, s...)
		for ; fill > 0; fill-- {
			p.buf = append(p.buf, ' ')
		}
		return
	}
	c := byte(' ')
	if p.zero {
		c = '0'
	}
	for ; fill > 0; fill-- {
		p.buf = append(p.buf, c)
	}
	p.buf = append(p.buf, s...)
}

func (p *printer) badVerb(a any, verb rune) {
	p.buf = append(p.buf, "%!"...)
	p.buf = utf8.AppendRune(p.buf, verb)
	p.buf = append(p.buf, '(')
	if a == nil {
		p.buf = append(p.buf, "<nil>"...)
	} else {
		p.buf = append(p.buf, reflect.TypeOf(a).String()...)
		p.buf = append(p.buf, '=')
		p.arg(a, 'v') // with the verb's flags, as fmt
	}
	p.buf = append(p.buf, ')')
}

// arg formats one operand.
func (p *printer) arg(a any, verb rune) {
	if a == nil {
		if verb == 'v' || verb == 'T' {
			p.pad("<nil>")
		} else {
			p.badVerb(nil, verb)
		}
		return
	}
	if verb == 'T' {
		p.pad(reflect.TypeOf(a).String())
		return
	}
	switch v := a.(type) {
	case bool:
		p.fmtBool(v, verb, a)
		return
	case string:
		p.fmtString(v, verb, a)
		return
	case []byte:
		if verb == 's' || verb == 'q' || verb == 'x' || verb == 'X' {
			p.fmtString(string(v), verb, a)
			return
		}
	case int, int8, int16, int32, int64: // these types only: a named one may have a String method
		x := reflect.ValueOf(a).Int()
		p.fmtInt(uint64(x), x < 0, verb, a)
		return
	case uint, uint8, uint16, uint32, uint64, uintptr:
		p.fmtInt(reflect.ValueOf(a).Uint(), false, verb, a)
		return
	case float32:
		p.fmtFloat(float64(v), 32, verb, a)
		return
	case float64:
		p.fmtFloat(v, 64, verb, a)
		return
	}
	// Methods, as fmt: an error's Error, else a String method, for the
	// verbs that print strings.
	switch verb {
	case 'v', 's', 'q', 'x', 'X':
		if !(p.sharp && verb == 'v') {
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.Pointer && rv.IsNil() {
				if _, ok := a.(stringer); ok {
					p.pad("<nil>") // as fmt prints a nil receiver
					return
				}
				if _, ok := a.(error); ok {
					p.pad("<nil>")
					return
				}
			}
			switch v := a.(type) {
			case error:
				p.fmtString(v.Error(), verb, a)
				return
			case stringer:
				p.fmtString(v.String(), verb, a)
				return
			}
		}
	}
	p.value(reflect.ValueOf(a), verb, 0, a)
}

func (p *printer) fmtBool(v bool, verb rune, a any) {
	if verb != 'v' && verb != 't' {
		p.badVerb(a, verb)
		return
	}
	p.pad(strconv.FormatBool(v))
}

func (p *printer) fmtString(s string, verb rune, a any) {
	switch verb {
	case 'v', 's':
		if p.hasPrec {
			s = truncateRunes(s, p.prec)
		}
		p.pad(s)
	case 'q':
		if p.hasPrec {
			s = truncateRunes(s, p.prec)
		}
		if p.sharp && strconv.CanBackquote(s) {
			p.pad("`" + s + "`")
		} else if p.plus {
			p.pad(strconv.QuoteToASCII(s))
		} else {
			p.pad(strconv.Quote(s))
		}
	case 'x', 'X':
		if p.hasPrec && p.prec < len(s) { // precision counts input bytes
			s = s[:p.prec]
		}
		digits := "0123456789abcdef"
		if verb == 'X' {
			digits = "0123456789ABCDEF"
		}
		var b []byte
		for i := 0; i < len(s); i++ {
			if p.space && i > 0 {
				b = append(b, ' ')
			}
			if p.sharp && (p.space || i == 0) {
				b = append(b, '0', byte(verb))
			}
			b = append(b, digits[s[i]>>4], digits[s[i]&0xf])
		}
		p.pad(string(b))
	default:
		p.badVerb(a, verb)
	}
}

func truncateRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func (p *printer) fmtInt(u uint64, neg bool, verb rune, a any) {
	base := 10
	switch verb {
	case 'v', 'd':
	case 'b':
		base = 2
	case 'o', 'O':
		base = 8
	case 'x', 'X':
		base = 16
	case 'c':
		p.pad(string(rune(u)))
		return
	case 'q':
		r := rune(u)
		if u > utf8.MaxRune {
			r = utf8.RuneError
		}
		if p.plus {
			p.pad(strconv.QuoteRuneToASCII(r))
		} else {
			p.pad(strconv.QuoteRune(r))
		}
		return
	case 'U':
		hex := upper(strconv.FormatUint(u, 16))
		for len(hex) < 4 {
			hex = "0" + hex
		}
		p.pad("U+" + hex)
		return
	default:
		p.badVerb(a, verb)
		return
	}
	mag := u
	if neg {
		mag = -u
	}
	digits := strconv.FormatUint(mag, base)
	if verb == 'X' {
		digits = upper(digits)
	}
	if p.hasPrec {
		if p.prec == 0 && mag == 0 {
			digits = ""
		}
		digits = zeros(p.prec-len(digits)) + digits
	}
	prefix := ""
	switch {
	case verb == 'O' || (p.sharp && verb == 'o' && digits[0] != '0'):
		prefix = "0"
		if verb == 'O' {
			prefix = "0o"
		}
	case p.sharp && verb == 'x':
		prefix = "0x"
	case p.sharp && verb == 'X':
		prefix = "0X"
	case p.sharp && verb == 'b':
		prefix = "0b"
	}
	sign := ""
	switch {
	case neg:
		sign = "-"
	case p.plus:
		sign = "+"
	case p.space:
		sign = " "
	}
	if p.zero && p.hasWid && !p.hasPrec && !p.minus {
		// As fmt: the digits fill the width (less the sign) with zeros, and
		// the 0x prefix comes on top.
		digits = zeros(p.wid-len(sign)-len(digits)) + digits
	}
	p.padNumber(sign, prefix+digits, false)
}

// padNumber pads sign+digits to the width, with zeros after the sign when
// the 0 flag allows it.
func (p *printer) padNumber(sign, digits string, zeroOK bool) {
	if p.zero && zeroOK && !p.minus && p.hasWid {
		digits = zeros(p.wid-len(sign)-len(digits)) + digits
	}
	zero := p.zero
	p.zero = false
	p.pad(sign + digits)
	p.zero = zero
}

// zeros returns n zeros ("" for n <= 0), by hand: strings.Repeat would
// add some 5 KB to every module.
func zeros(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// upper is strings.ToUpper for the ASCII digits strconv writes, without
// the Unicode case tables strings.ToUpper links (some 13 KB a module).
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func (p *printer) fmtFloat(f float64, bits int, verb rune, a any) {
	prec := -1
	if p.hasPrec {
		prec = p.prec
	}
	var c byte
	switch verb {
	case 'v', 'g':
		c = 'g'
	case 'G':
		c = 'G'
	case 'e', 'E', 'f', 'F':
		c = byte(verb)
		if c == 'F' {
			c = 'f'
		}
		if !p.hasPrec {
			prec = 6
		}
	case 'b', 'x', 'X':
		c = byte(verb)
	default:
		p.badVerb(a, verb)
		return
	}
	// Signs as fmt writes them: num always starts with one here.
	num := strconv.FormatFloat(f, c, prec, bits)
	if num[0] != '-' && num[0] != '+' {
		num = "+" + num
	}
	if p.space && num[0] == '+' && !p.plus {
		num = " " + num[1:]
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		if math.IsNaN(f) && !p.space && !p.plus {
			num = num[1:]
		}
		p.padNumber("", num, false)
		return
	}
	if p.plus || num[0] != '+' {
		p.padNumber(num[:1], num[1:], true)
		return
	}
	p.padNumber("", num[1:], true)
}

// value formats composite values through reflection, as fmt's %v does.
func (p *printer) value(v reflect.Value, verb rune, depth int, a any) {
	if depth > 0 && v.IsValid() && v.CanInterface() {
		// Elements get the same treatment as operands.
		switch v.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Pointer, reflect.Interface:
		default:
			p.arg(v.Interface(), verb)
			return
		}
		if v.Kind() != reflect.Interface && (verb == 'v' || verb == 's') && !(p.sharp && verb == 'v') {
			switch x := v.Interface().(type) {
			case error:
				p.fmtString(x.Error(), verb, x)
				return
			case stringer:
				if v.Kind() != reflect.Pointer || !v.IsNil() {
					p.fmtString(x.String(), verb, x)
					return
				}
			}
		}
	}
	if verb != 'v' && verb != 's' && verb != 'd' && verb != 'g' && verb != 'f' && verb != 'e' && verb != 'x' && verb != 'q' {
		p.badVerb(a, verb)
		return
	}
	switch v.Kind() {
	case reflect.Invalid:
		p.buf = append(p.buf, "<invalid reflect.Value>"...)
	case reflect.Interface:
		if v.IsNil() {
			p.buf = append(p.buf, "<nil>"...)
			return
		}
		p.value(v.Elem(), verb, depth+1, a)
	case reflect.Bool:
		p.fmtBool(v.Bool(), verb, a)
	case reflect.String:
		p.fmtString(v.String(), verb, a)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := v.Int()
		p.fmtInt(uint64(x), x < 0, verb, a)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.fmtInt(v.Uint(), false, verb, a)
	case reflect.Float32:
		p.fmtFloat(v.Float(), 32, verb, a)
	case reflect.Float64:
		p.fmtFloat(v.Float(), 64, verb, a)
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 && (verb == 's' || verb == 'q' || verb == 'x') {
			p.fmtString(string(v.Bytes()), verb, a)
			return
		}
		p.buf = append(p.buf, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			p.value(v.Index(i), verb, depth+1, a)
		}
		p.buf = append(p.buf, ']')
	case reflect.Map:
		p.buf = append(p.buf, "map["...)
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
		for i, k := range keys {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			p.value(k, verb, depth+1, a)
			p.buf = append(p.buf, ':')
			p.value(v.MapIndex(k), verb, depth+1, a)
		}
		p.buf = append(p.buf, ']')
	case reflect.Struct:
		p.buf = append(p.buf, '{')
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			if p.plusV {
				p.buf = append(p.buf, t.Field(i).Name...)
				p.buf = append(p.buf, ':')
			}
			f := v.Field(i)
			if !f.CanInterface() { // unexported: print its plain value
				p.plain(f)
				continue
			}
			p.value(f, verb, depth+1, a)
		}
		p.buf = append(p.buf, '}')
	case reflect.Pointer:
		if depth == 0 && !v.IsNil() {
			switch v.Elem().Kind() {
			case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
				p.buf = append(p.buf, '&')
				p.value(v.Elem(), verb, depth+1, a)
				return
			}
		}
		p.pointer(v)
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		p.pointer(v)
	default:
		p.badVerb(a, verb)
	}
}

// plain writes an unexported field's value, which reflection cannot hand
// to methods.
func (p *printer) plain(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		p.buf = strconv.AppendBool(p.buf, v.Bool())
	case reflect.String:
		p.buf = append(p.buf, v.String()...)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.buf = strconv.AppendInt(p.buf, v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.buf = strconv.AppendUint(p.buf, v.Uint(), 10)
	case reflect.Float32:
		p.buf = strconv.AppendFloat(p.buf, v.Float(), 'g', -1, 32)
	case reflect.Float64:
		p.buf = strconv.AppendFloat(p.buf, v.Float(), 'g', -1, 64)
	case reflect.Slice, reflect.Array:
		p.buf = append(p.buf, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			p.plain(v.Index(i))
		}
		p.buf = append(p.buf, ']')
	case reflect.Struct:
		p.buf = append(p.buf, '{')
		for i := 0; i < v.NumField(); i++ {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			p.plain(v.Field(i))
		}
		p.buf = append(p.buf, '}')
	case reflect.Interface:
		if v.IsNil() {
			p.buf = append(p.buf, "<nil>"...)
		} else {
			p.plain(v.Elem())
		}
	default:
		p.pointer(v)
	}
}

func (p *printer) pointer(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Map, reflect.Slice:
		if v.IsNil() {
			p.buf = append(p.buf, "<nil>"...)
			return
		}
		p.buf = append(p.buf, "0x"...)
		p.buf = strconv.AppendUint(p.buf, uint64(v.Pointer()), 16)
	default:
		p.buf = append(p.buf, "?"...)
	}
}

// lessKey orders map keys as fmt does for the common key kinds.
func lessKey(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() < b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() < b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() < b.Float()
	case reflect.String:
		return a.String() < b.String()
	case reflect.Bool:
		return !a.Bool() && b.Bool()
	}
	return false
}
