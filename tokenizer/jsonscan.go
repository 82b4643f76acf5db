package tokenizer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON reader for the two big parts of tokenizer.json, the vocab
// object and the merges list (hundreds of thousands of strings each).
// encoding/json takes ~0.7 s on Qwen3's file; this takes a fraction, which
// is most of `pipeline`'s start-up time. Everything else in the file goes
// through encoding/json.

type jsonReader struct {
	b []byte
	i int
}

var errJSONEnd = errors.New("unexpected end of JSON")

func (r *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("JSON offset %d: %s", r.i, fmt.Sprintf(format, args...))
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte.
func (r *jsonReader) peek() (byte, error) {
	r.ws()
	if r.i >= len(r.b) {
		return 0, errJSONEnd
	}
	return r.b[r.i], nil
}

func (r *jsonReader) expect(c byte) error {
	p, err := r.peek()
	if err != nil {
		return err
	}
	if p != c {
		return r.errorf("want %q, got %q", c, p)
	}
	r.i++
	return nil
}

// str reads a string.
func (r *jsonReader) str() (string, error) {
	if err := r.expect('"'); err != nil {
		return "", err
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			s := r.b[start:r.i]
			r.i++
			if !utf8.Valid(s) {
				return string([]rune(string(s))), nil // encoding/json's U+FFFD replacement
			}
			return string(s), nil
		}
		if c == '\\' {
			return r.strSlow(start)
		}
		if c < 0x20 {
			return "", r.errorf("control character in string")
		}
		r.i++
	}
	return "", errJSONEnd
}

func (r *jsonReader) strSlow(start int) (string, error) {
	buf := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(buf) {
				return string([]rune(string(buf))), nil
			}
			return string(buf), nil
		case c < 0x20:
			return "", r.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return "", errJSONEnd
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			u, err := r.hex4()
			if err != nil {
				return "", err
			}
			cp := rune(u)
			if utf16.IsSurrogate(cp) {
				cp = utf8.RuneError
				if r.i+6 <= len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					u2, err := r.hex4()
					if err == nil {
						if d := utf16.DecodeRune(rune(u), rune(u2)); d != utf8.RuneError {
							cp = d
						} else {
							r.i = save
						}
					} else {
						r.i = save
					}
				}
			}
			buf = utf8.AppendRune(buf, cp)
		default:
			return "", r.errorf("bad escape \\%c", e)
		}
	}
	return "", errJSONEnd
}

func (r *jsonReader) hex4() (uint16, error) {
	if r.i+4 > len(r.b) {
		return 0, errJSONEnd
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 16)
	if err != nil {
		return 0, r.errorf("bad \\u escape")
	}
	r.i += 4
	return uint16(v), nil
}

// int32v reads an integer that fits in int32.
func (r *jsonReader) int32v() (int32, error) {
	r.ws()
	start := r.i
	for r.i < len(r.b) && (r.b[r.i] == '-' || r.b[r.i] >= '0' && r.b[r.i] <= '9') {
		r.i++
	}
	v, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 32)
	if err != nil {
		return 0, r.errorf("want an int32 id: %v", err)
	}
	return int32(v), nil
}

// next consumes a ',' and reports true, or consumes the closing byte and
// reports false.
func (r *jsonReader) next(closing byte) (bool, error) {
	p, err := r.peek()
	if err != nil {
		return false, err
	}
	r.i++
	switch p {
	case ',':
		return true, nil
	case closing:
		return false, nil
	}
	r.i--
	return false, r.errorf("want ',' or %q, got %q", closing, p)
}

// empty reports and consumes an immediately closing bracket.
func (r *jsonReader) empty(closing byte) bool {
	if p, err := r.peek(); err == nil && p == closing {
		r.i++
		return true
	}
	return false
}

func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.b) {
		return r.errorf("trailing data")
	}
	return nil
}

// parseVocab reads {"token": id, ...}.
func parseVocab(b []byte) (map[string]int32, error) {
	r := &jsonReader{b: b}
	if err := r.expect('{'); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	m := make(map[string]int32, len(b)/12)
	if r.empty('}') {
		return m, r.end()
	}
	for {
		k, err := r.str()
		if err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		if err := r.expect(':'); err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		v, err := r.int32v()
		if err != nil {
			return nil, fmt.Errorf("vocab entry %q: %w", k, err)
		}
		m[k] = v
		more, err := r.next('}')
		if err != nil {
			return nil, fmt.Errorf("vocab: %w", err)
		}
		if !more {
			return m, r.end()
		}
	}
}

// parseMergeList reads ["a b", ...] or [["a", "b"], ...].
func parseMergeList(b []byte) ([][2]string, error) {
	r := &jsonReader{b: b}
	if err := r.expect('['); err != nil {
		return nil, fmt.Errorf("BPE merges: %w", err)
	}
	var out [][2]string
	if r.empty(']') {
		return out, r.end()
	}
	for i := 0; ; i++ {
		p, err := r.peek()
		if err != nil {
			return nil, fmt.Errorf("BPE merges: %w", err)
		}
		var pair [2]string
		if p == '[' {
			r.i++
			for k := range 2 {
				if pair[k], err = r.str(); err != nil {
					return nil, fmt.Errorf("BPE merge %d: %w", i, err)
				}
				if k == 0 {
					if err := r.expect(','); err != nil {
						return nil, fmt.Errorf("BPE merge %d: want 2 tokens: %w", i, err)
					}
				}
			}
			if err := r.expect(']'); err != nil {
				return nil, fmt.Errorf("BPE merge %d: want 2 tokens: %w", i, err)
			}
		} else {
			s, err := r.str()
			if err != nil {
				return nil, fmt.Errorf("BPE merge %d: %w", i, err)
			}
			a, c, ok := cutSpace(s)
			if !ok {
				return nil, fmt.Errorf("BPE merge %d %q: want two tokens separated by a space", i, s)
			}
			pair = [2]string{a, c}
		}
		out = append(out, pair)
		more, err := r.next(']')
		if err != nil {
			return nil, fmt.Errorf("BPE merges: %w", err)
		}
		if !more {
			return out, r.end()
		}
	}
}

// cutSpace splits "a b" at its only space, as HF tokenizers does.
func cutSpace(s string) (string, string, bool) {
	a, b, ok := strings.Cut(s, " ")
	return a, b, ok && !strings.Contains(b, " ")
}

// skipValue moves past one value.
func (r *jsonReader) skipValue() error {
	p, err := r.peek()
	if err != nil {
		return err
	}
	switch p {
	case '"':
		r.i++
		for r.i < len(r.b) {
			switch r.b[r.i] {
			case '\\':
				r.i += 2
				continue
			case '"':
				r.i++
				return nil
			}
			r.i++
		}
		return errJSONEnd
	case '{', '[':
		closing := byte('}')
		if p == '[' {
			closing = ']'
		}
		r.i++
		if r.empty(closing) {
			return nil
		}
		for {
			if p == '{' {
				if _, err := r.str(); err != nil {
					return err
				}
				if err := r.expect(':'); err != nil {
					return err
				}
			}
			if err := r.skipValue(); err != nil {
				return err
			}
			more, err := r.next(closing)
			if err != nil || !more {
				return err
			}
		}
	default:
		start := r.i
		for r.i < len(r.b) {
			c := r.b[r.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\t' || c == '\r' {
				break
			}
			r.i++
		}
		if r.i == start {
			return r.errorf("unexpected %q", p)
		}
		return nil
	}
}

// objectFields returns the raw value of each key of a JSON object (the
// last one wins for repeated keys, as in encoding/json).
func objectFields(b []byte) (map[string][]byte, error) {
	r := &jsonReader{b: b}
	if err := r.expect('{'); err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	if r.empty('}') {
		return out, r.end()
	}
	for {
		k, err := r.str()
		if err != nil {
			return nil, err
		}
		if err := r.expect(':'); err != nil {
			return nil, err
		}
		r.ws()
		start := r.i
		if err := r.skipValue(); err != nil {
			return nil, err
		}
		out[k] = b[start:r.i]
		more, err := r.next('}')
		if err != nil {
			return nil, err
		}
		if !more {
			return out, r.end()
		}
	}
}
