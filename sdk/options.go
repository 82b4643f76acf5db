package sdk

import (
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Options are a pass's settings, from the `options:` map of a pipeline
// file, sent to the pass as a JSON object. A pass declares them as a
// pointer to a struct whose field values are the defaults:
//
//	type Options struct {
//		Bits      int      `json:"bits" doc:"bits per weight" enum:"2,3,4,5,6,8"`
//		GroupSize int      `json:"group_size" doc:"weights per scale" enum:"32,64,128"`
//		Skip      []string `json:"skip" doc:"initializer name substrings to leave alone"`
//	}
//	sdk.Pass{..., Options: &Options{Bits: 4, GroupSize: 64}}
//
// Field tags: json (the key; "-" hides a field), doc (its description),
// enum (comma-separated allowed values), min and max (numeric bounds).
// Supported field types are bool, string, integers, floats, slices of
// those, and nested structs of the same. Unknown keys, wrong types and
// values outside enum/min/max are errors that name the option.

// DecodeOptions returns a fresh copy of defaults (a pointer to a struct, or
// nil) with the JSON object in js applied. An empty js means "{}".
func DecodeOptions(defaults any, js string) (any, error) {
	if strings.TrimSpace(js) == "" {
		js = "{}"
	}
	v, err := parseJSON(js)
	if err != nil {
		return nil, Errorf("options are not valid JSON: %v", err)
	}
	if v.kind != jsonObject {
		return nil, Errorf("options must be a JSON object, got %s", v.kind)
	}
	if defaults == nil {
		if len(v.obj) > 0 {
			return nil, Errorf("pass takes no options, got %q", v.obj[0].key)
		}
		return nil, nil
	}
	dv := reflect.ValueOf(defaults)
	if dv.Kind() != reflect.Pointer || dv.Elem().Kind() != reflect.Struct {
		return nil, Errorf("pass options must be a pointer to a struct, got %T", defaults)
	}
	out := reflect.New(dv.Elem().Type())
	out.Elem().Set(dv.Elem())
	if err := decodeStruct(out.Elem(), v, ""); err != nil {
		return nil, err
	}
	return out.Interface(), nil
}

type optionField struct {
	key, doc string
	enum     []string
	min, max *float64
	index    int
}

func optionFields(t reflect.Type) []optionField {
	var fs []optionField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		key := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if name != "" {
				key = name
			}
		}
		of := optionField{key: key, doc: f.Tag.Get("doc"), index: i}
		if e := f.Tag.Get("enum"); e != "" {
			of.enum = strings.Split(e, ",")
		}
		for _, b := range []struct {
			tag string
			dst **float64
		}{{"min", &of.min}, {"max", &of.max}} {
			if s := f.Tag.Get(b.tag); s != "" {
				if x, err := strconv.ParseFloat(s, 64); err == nil {
					*b.dst = &x
				}
			}
		}
		fs = append(fs, of)
	}
	return fs
}

func decodeStruct(dst reflect.Value, v *jsonValue, path string) error {
	fields := optionFields(dst.Type())
	for _, m := range v.obj {
		var f *optionField
		for i := range fields {
			if fields[i].key == m.key {
				f = &fields[i]
			}
		}
		name := path + m.key
		if f == nil {
			known := make([]string, len(fields))
			for i, f := range fields {
				known[i] = path + f.key
			}
			if len(known) == 0 {
				return Errorf("unknown option %q (this pass takes none)", name)
			}
			return Errorf("unknown option %q (known: %s)", name, strings.Join(known, ", "))
		}
		if m.val.kind == jsonNull {
			continue // null keeps the default
		}
		if err := decodeValue(dst.Field(f.index), m.val, name, f); err != nil {
			return err
		}
	}
	return nil
}

func decodeValue(dst reflect.Value, v *jsonValue, name string, f *optionField) error {
	want := func(what string) error {
		return Errorf("option %q: want %s, got %s", name, what, v.kind)
	}
	switch dst.Kind() {
	case reflect.Bool:
		if v.kind != jsonBool {
			return want("a boolean")
		}
		dst.SetBool(v.b)
	case reflect.String:
		if v.kind != jsonString {
			return want("a string")
		}
		if err := checkEnum(f, v.text, name); err != nil {
			return err
		}
		dst.SetString(v.text)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.kind != jsonNumber {
			return want("an integer")
		}
		x, err := strconv.ParseFloat(v.text, 64)
		if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return Errorf("option %q: want an integer, got %s", name, v.text)
		}
		if err := checkNumber(f, x, v.text, name); err != nil {
			return err
		}
		if dst.CanInt() {
			if dst.OverflowInt(int64(x)) {
				return Errorf("option %q: %s is out of range", name, v.text)
			}
			dst.SetInt(int64(x))
		} else {
			if x < 0 || dst.OverflowUint(uint64(x)) {
				return Errorf("option %q: %s is out of range", name, v.text)
			}
			dst.SetUint(uint64(x))
		}
	case reflect.Float32, reflect.Float64:
		if v.kind != jsonNumber {
			return want("a number")
		}
		x, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return Errorf("option %q: %s is out of range", name, v.text)
		}
		if err := checkNumber(f, x, v.text, name); err != nil {
			return err
		}
		dst.SetFloat(x)
	case reflect.Slice:
		if v.kind != jsonArray {
			return want("an array")
		}
		s := reflect.MakeSlice(dst.Type(), len(v.arr), len(v.arr))
		for i, el := range v.arr {
			if err := decodeValue(s.Index(i), el, Sprintf("%s[%d]", name, i), f); err != nil {
				return err
			}
		}
		dst.Set(s)
	case reflect.Struct:
		if v.kind != jsonObject {
			return want("an object")
		}
		return decodeStruct(dst, v, name+".")
	default:
		return Errorf("option %q: unsupported field type %s", name, dst.Type())
	}
	return nil
}

func checkEnum(f *optionField, text, name string) error {
	if f == nil || len(f.enum) == 0 {
		return nil
	}
	for _, e := range f.enum {
		if e == text {
			return nil
		}
	}
	return Errorf("option %q: %s is not one of %s", name, text, strings.Join(f.enum, ", "))
}

func checkNumber(f *optionField, x float64, text, name string) error {
	if f == nil {
		return nil
	}
	if len(f.enum) > 0 {
		ok := false
		for _, e := range f.enum {
			if y, err := strconv.ParseFloat(e, 64); err == nil && y == x {
				ok = true
			}
		}
		if !ok {
			return Errorf("option %q: %s is not one of %s", name, text, strings.Join(f.enum, ", "))
		}
	}
	if f.min != nil && x < *f.min {
		return Errorf("option %q: %s is below the minimum %s", name, text, jsonFloat(*f.min))
	}
	if f.max != nil && x > *f.max {
		return Errorf("option %q: %s is above the maximum %s", name, text, jsonFloat(*f.max))
	}
	return nil
}

// OptionsSchema returns the JSON Schema (draft 2020-12) of an options
// struct, with the defaults it holds, or `{"type":"object",
// "additionalProperties":false}` for nil. The output is deterministic:
// properties in field order.
func OptionsSchema(defaults any) string {
	var b strings.Builder
	b.WriteString(`{"$schema":"https://json-schema.org/draft/2020-12/schema",`)
	if defaults == nil {
		b.WriteString(`"type":"object","additionalProperties":false}`)
		return b.String()
	}
	v := reflect.ValueOf(defaults)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	writeObjectSchema(&b, v)
	b.WriteByte('}')
	return b.String()
}

func writeObjectSchema(b *strings.Builder, v reflect.Value) {
	b.WriteString(`"type":"object","additionalProperties":false,"properties":{`)
	for i, f := range optionFields(v.Type()) {
		if i > 0 {
			b.WriteByte(',')
		}
		jsonQuote(b, f.key)
		b.WriteString(":{")
		fv := v.Field(f.index)
		if fv.Kind() == reflect.Struct {
			writeObjectSchema(b, fv)
		} else {
			writeTypeSchema(b, fv.Type())
		}
		if f.doc != "" {
			b.WriteString(`,"description":`)
			jsonQuote(b, f.doc)
		}
		if fv.Kind() != reflect.Struct {
			b.WriteString(`,"default":`)
			writeJSONValue(b, fv)
		}
		if len(f.enum) > 0 {
			b.WriteString(`,"enum":[`)
			for j, e := range f.enum {
				if j > 0 {
					b.WriteByte(',')
				}
				if fv.Kind() == reflect.String {
					jsonQuote(b, e)
				} else {
					b.WriteString(e)
				}
			}
			b.WriteByte(']')
		}
		if f.min != nil {
			b.WriteString(`,"minimum":` + jsonFloat(*f.min))
		}
		if f.max != nil {
			b.WriteString(`,"maximum":` + jsonFloat(*f.max))
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
}

func writeTypeSchema(b *strings.Builder, t reflect.Type) {
	switch t.Kind() {
	case reflect.Bool:
		b.WriteString(`"type":"boolean"`)
	case reflect.String:
		b.WriteString(`"type":"string"`)
	case reflect.Float32, reflect.Float64:
		b.WriteString(`"type":"number"`)
	case reflect.Slice:
		b.WriteString(`"type":"array","items":{`)
		writeTypeSchema(b, t.Elem())
		b.WriteByte('}')
	case reflect.Struct:
		// properties follow from writeObjectSchema
	default:
		if isIntKind(t.Kind()) {
			b.WriteString(`"type":"integer"`)
		}
	}
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

func writeJSONValue(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.String:
		jsonQuote(b, v.String())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			b.WriteString("null")
		} else {
			b.WriteString(jsonFloat(f))
		}
	case reflect.Slice:
		b.WriteByte('[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONValue(b, v.Index(i))
		}
		b.WriteByte(']')
	case reflect.Struct:
		b.WriteByte('{')
		for i, f := range optionFields(v.Type()) {
			if i > 0 {
				b.WriteByte(',')
			}
			jsonQuote(b, f.key)
			b.WriteByte(':')
			writeJSONValue(b, v.Field(f.index))
		}
		b.WriteByte('}')
	default:
		switch {
		case v.CanInt():
			b.WriteString(strconv.FormatInt(v.Int(), 10))
		case v.CanUint():
			b.WriteString(strconv.FormatUint(v.Uint(), 10))
		default:
			b.WriteString("null")
		}
	}
}

// EncodeOptions returns the JSON object form of an options struct pointer
// (nil gives "{}"), in field order; DecodeOptions reads it back.
func EncodeOptions(opts any) string {
	if opts == nil {
		return "{}"
	}
	v := reflect.ValueOf(opts)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "{}"
		}
		v = v.Elem()
	}
	var b strings.Builder
	writeJSONValue(&b, v)
	return b.String()
}
