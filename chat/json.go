package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Conversation is the input of `pipeline tokenize --messages`: a JSON
// array of messages, or an object {"messages": [...], "tools": [...]}.
type Conversation struct {
	Messages []Message
	Tools    []any
}

// ParseConversation reads a conversation file, keeping key order.
func ParseConversation(data []byte) (Conversation, error) {
	var c Conversation
	v, err := decodeOrdered(data)
	if err != nil {
		return c, fmt.Errorf("messages: %w", err)
	}
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case Object:
		m, ok := x.Get("messages")
		if !ok {
			return c, fmt.Errorf("messages: object has no \"messages\" list")
		}
		if list, ok = m.([]any); !ok {
			return c, fmt.Errorf("messages: \"messages\" is not a list")
		}
		if t, ok := x.Get("tools"); ok && t != nil {
			if c.Tools, ok = t.([]any); !ok {
				return c, fmt.Errorf("messages: \"tools\" is not a list")
			}
		}
	default:
		return c, fmt.Errorf("messages: want a list of messages or {\"messages\": [...]}")
	}
	for i, e := range list {
		o, ok := e.(Object)
		if !ok {
			return c, fmt.Errorf("messages[%d]: not an object", i)
		}
		var m Message
		for _, f := range o {
			switch f.Key {
			case "role":
				s, ok := f.Value.(string)
				if !ok {
					return c, fmt.Errorf("messages[%d]: role is not a string", i)
				}
				m.Role = s
			case "content":
				switch s := f.Value.(type) {
				case string:
					m.Content = s
				case nil:
				default:
					m.Fields = append(m.Fields, f) // a list of parts, passed through
				}
			default:
				m.Fields = append(m.Fields, f)
			}
		}
		if m.Role == "" {
			return c, fmt.Errorf("messages[%d]: no role", i)
		}
		c.Messages = append(c.Messages, m)
	}
	return c, nil
}

// decodeOrdered decodes JSON with objects as Object (key order kept) and
// numbers as int64 or float64.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var o Object
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o = append(o, Field{k.(string), v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if o == nil {
				o = Object{}
			}
			return o, nil
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, nil
		}
		return t.Float64()
	default:
		return t, nil
	}
}

// filterToJSON is transformers' tojson: Python's json.dumps with
// ensure_ascii=False and the indent, separators and sort_keys arguments.
func filterToJSON(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	opts := pyJSON{itemSep: ", ", keySep: ": "}
	for k, v := range params.KwArgs {
		switch k {
		case "indent":
			if !v.IsNil() {
				if v.IsInteger() {
					opts.indent = strings.Repeat(" ", v.Integer())
				} else {
					opts.indent = v.String()
				}
				opts.indented = true
			}
		case "separators":
			if v.IsList() && v.Len() == 2 {
				opts.itemSep, opts.keySep = v.Index(0).String(), v.Index(1).String()
				opts.customSeps = true
			}
		case "sort_keys":
			opts.sortKeys = v.IsTrue()
		case "ensure_ascii":
			opts.ensureASCII = v.IsTrue()
		default:
			return exec.AsValue(fmt.Errorf("tojson: unexpected argument %q", k))
		}
	}
	if len(params.Args) > 0 && !params.Args[0].IsNil() { // tojson(indent) positionally
		opts.indent, opts.indented = strings.Repeat(" ", params.Args[0].Integer()), true
	}
	if opts.indented && !opts.customSeps {
		opts.itemSep = "," // json.dumps drops the space when it indents
	}
	var b strings.Builder
	if err := opts.write(&b, in, 0); err != nil {
		return exec.AsValue(err)
	}
	return exec.AsSafeValue(b.String())
}

type pyJSON struct {
	indent      string
	indented    bool
	itemSep     string
	keySep      string
	customSeps  bool
	sortKeys    bool
	ensureASCII bool
}

func (o *pyJSON) newline(b *strings.Builder, depth int) {
	if !o.indented {
		return
	}
	b.WriteByte('\n')
	for range depth {
		b.WriteString(o.indent)
	}
}

func (o *pyJSON) write(b *strings.Builder, v *exec.Value, depth int) error {
	if v == nil || v.IsNil() {
		b.WriteString("null")
		return nil
	}
	switch x := v.Interface().(type) {
	case exec.Dict:
		return o.writeDict(b, x.Pairs, depth)
	case *exec.Dict:
		return o.writeDict(b, x.Pairs, depth)
	}
	switch {
	case v.IsBool():
		if v.Bool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case v.IsInteger():
		b.WriteString(strconv.Itoa(v.Integer()))
	case v.IsFloat():
		b.WriteString(pyFloat(v.Float()))
	case v.IsString():
		o.writeString(b, v.String())
	case v.IsList():
		n := v.Len()
		if n == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, depth+1)
			if err := o.write(b, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		o.newline(b, depth)
		b.WriteByte(']')
	case v.IsDict():
		pairs := v.Items()
		sort.Slice(pairs, func(i, j int) bool { return pairs[i].Key.String() < pairs[j].Key.String() })
		return o.writeDict(b, pairs, depth)
	default:
		rv := reflect.ValueOf(v.Interface())
		return fmt.Errorf("tojson: cannot encode a %s", rv.Type())
	}
	return nil
}

func (o *pyJSON) writeDict(b *strings.Builder, pairs []*exec.Pair, depth int) error {
	if len(pairs) == 0 {
		b.WriteString("{}")
		return nil
	}
	if o.sortKeys {
		pairs = append([]*exec.Pair(nil), pairs...)
		sort.SliceStable(pairs, func(i, j int) bool { return pairs[i].Key.String() < pairs[j].Key.String() })
	}
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(o.itemSep)
		}
		o.newline(b, depth+1)
		o.writeString(b, p.Key.String())
		b.WriteString(o.keySep)
		if err := o.write(b, p.Value, depth+1); err != nil {
			return err
		}
	}
	o.newline(b, depth)
	b.WriteByte('}')
	return nil
}

// writeString quotes s as Python's json module does.
func (o *pyJSON) writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || (o.ensureASCII && r > 0x7e && r < 0x10000):
				fmt.Fprintf(b, `\u%04x`, r)
			case o.ensureASCII && r >= 0x10000:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as Python's repr does (1.0, 0.1, 1e-05, 1e+16).
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}
