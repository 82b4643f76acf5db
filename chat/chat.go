// Package chat renders a conversation into a model's prompt text with the
// Jinja chat_template from its tokenizer_config.json (or
// chat_template.jinja), the way transformers' apply_chat_template does:
// the same variables (messages, tools, add_generation_prompt, bos_token,
// eos_token... and extra ones such as enable_thinking), the same Jinja
// settings (trim_blocks, lstrip_blocks) and the same helpers
// (raise_exception, strftime_now, a Python-style tojson).
//
// Templates run in github.com/nikolalohinski/gonja/v2, a Go Jinja engine.
package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/graphpass/graphpass/tokenizer"
	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// ErrNoTemplate is returned when a model has no chat template.
var ErrNoTemplate = errors.New("the model has no chat template")

// Message is one turn of a conversation.
type Message struct {
	Role    string
	Content string
	// Fields are any other fields of the message (reasoning_content,
	// tool_calls, name, tool_call_id...), in order; a "content" field
	// here replaces Content (for content given as a list of parts).
	Fields Object
}

// Object is a JSON object whose key order is kept, as Python dicts keep
// it, so tojson in a template prints keys in their original order.
type Object []Field

// Field is one key of an Object.
type Field struct {
	Key   string
	Value any // nil, bool, int64, float64, string, []any, Object, or Go maps/slices
}

// Get returns the value of key.
func (o Object) Get(key string) (any, bool) {
	for _, f := range o {
		if f.Key == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Options are the template variables besides the messages.
type Options struct {
	// AddGenerationPrompt appends the header of an assistant turn.
	AddGenerationPrompt bool
	// Tools are tool (function) definitions, as JSON-schema objects; nil
	// renders as None.
	Tools []any
	// Documents are retrieval documents for templates that take them.
	Documents []any
	// Vars are extra variables, e.g. "enable_thinking": false.
	Vars map[string]any
	// Now is strftime_now's clock; nil means time.Now.
	Now func() time.Time
}

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	tpl     *exec.Template
	special map[string]any
	mu      sync.Mutex
}

// Load reads the chat template and special tokens of a model directory.
func Load(dir string) (*Template, error) {
	cfg, err := tokenizer.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	if cfg.ChatTemplate == "" {
		return nil, fmt.Errorf("chat: %s: %w", dir, ErrNoTemplate)
	}
	return New(cfg.ChatTemplate, cfg)
}

// Render renders messages with the chat template of a model directory.
func Render(dir string, messages []Message, opts Options) (string, error) {
	t, err := Load(dir)
	if err != nil {
		return "", err
	}
	return t.Render(messages, opts)
}

// New compiles a template source; cfg supplies bos_token, eos_token and
// the other special-token variables.
func New(source string, cfg tokenizer.Config) (*Template, error) {
	// transformers renders with trim_blocks and lstrip_blocks; gonja's
	// lstrip_blocks also strips spaces between "}}" and "{%" on one line,
	// which Jinja keeps, so both are applied here to the source instead.
	c := config.New()
	loader, err := loaders.NewFileSystemLoader("")
	if err != nil {
		return nil, err
	}
	const name = "chat_template"
	shifted, err := loaders.NewShiftedLoader(name, bytes.NewReader([]byte(trimBlocks(source))), loader)
	if err != nil {
		return nil, err
	}
	tpl, err := compile(name, c, shifted)
	if err != nil {
		return nil, err
	}
	special := map[string]any{}
	for k, v := range map[string]string{
		"bos_token": cfg.BOSToken, "eos_token": cfg.EOSToken,
		"unk_token": cfg.UnkToken, "pad_token": cfg.PadToken,
	} {
		if v != "" {
			special[k] = v
		}
	}
	if len(cfg.AdditionalSpecialTokens) > 0 {
		l := make([]any, len(cfg.AdditionalSpecialTokens))
		for i, s := range cfg.AdditionalSpecialTokens {
			l[i] = s
		}
		special["additional_special_tokens"] = l
	}
	return &Template{tpl: tpl, special: special}, nil
}

// compile parses a template, turning gonja's panics and its error text
// (which embeds the whole source) into a short error.
func compile(name string, c *config.Config, l loaders.Loader) (tpl *exec.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, fmt.Errorf("chat template: syntax error: %v", r)
		}
	}()
	tpl, err = exec.NewTemplate(name, c, l, environment)
	if err != nil {
		return nil, fmt.Errorf("chat template: syntax error: %s", cleanError(err))
	}
	return tpl, nil
}

var (
	lstripRE = regexp.MustCompile(`(?m)^[ \t]*(\{[%#])(\+?)`)
	trimRE   = regexp.MustCompile(`(\+?)([%#]\})\n`)
)

// trimBlocks applies Jinja's lstrip_blocks (whitespace before a block or
// comment tag at the start of a line goes) and trim_blocks (the newline
// after a block or comment tag goes); "{%+" and "+%}" opt out.
func trimBlocks(src string) string {
	src = lstripRE.ReplaceAllStringFunc(src, func(m string) string {
		if strings.HasSuffix(m, "+") {
			return m
		}
		return strings.TrimLeft(m, " \t")
	})
	return trimRE.ReplaceAllStringFunc(src, func(m string) string {
		if strings.HasPrefix(m, "+") {
			return m
		}
		return strings.TrimSuffix(m, "\n")
	})
}

var sourceInError = regexp.MustCompile(`(?s)failed to parse template '.*?': `)

func cleanError(err error) string {
	return sourceInError.ReplaceAllString(err.Error(), "")
}

// Render renders the conversation.
func (t *Template) Render(messages []Message, opts Options) (out string, err error) {
	msgs := make([]any, len(messages))
	for i, m := range messages {
		msgs[i] = messageValue(m)
	}
	vars := map[string]any{}
	for k, v := range t.special {
		vars[k] = v
	}
	for k, v := range opts.Vars {
		vars[k] = toTemplateValue(v)
	}
	vars["messages"] = msgs
	vars["add_generation_prompt"] = opts.AddGenerationPrompt
	vars["tools"] = nil
	if opts.Tools != nil {
		vars["tools"] = toTemplateValue(opts.Tools)
	}
	vars["documents"] = nil
	if opts.Documents != nil {
		vars["documents"] = toTemplateValue(opts.Documents)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var raised *string // raise_exception's message; gonja flattens the error it returns
	vars["raise_exception"] = func(_ *exec.Evaluator, params *exec.VarArgs) (string, error) {
		msg := ""
		if len(params.Args) > 0 {
			msg = params.Args[0].String()
		}
		raised = &msg
		return "", errors.New(msg)
	}
	vars["strftime_now"] = func(_ *exec.Evaluator, params *exec.VarArgs) (string, error) {
		if len(params.Args) != 1 || !params.Args[0].IsString() {
			return "", fmt.Errorf("strftime_now takes one format string")
		}
		return strftime(now(), params.Args[0].String()), nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat template: %v", r)
		}
	}()
	s, err := t.tpl.ExecuteToString(exec.NewContext(vars))
	if err != nil {
		if raised != nil {
			return "", fmt.Errorf("chat template: %s", *raised)
		}
		return "", fmt.Errorf("chat template: %s", cleanError(err))
	}
	return s, nil
}

// messageValue is the dict a template sees for a message.
func messageValue(m Message) *exec.Dict {
	d := exec.NewDict()
	d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue("role"), Value: exec.AsValue(m.Role)})
	content := exec.AsValue(m.Content)
	if v, ok := m.Fields.Get("content"); ok {
		content = exec.AsValue(toTemplateValue(v))
	}
	d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue("content"), Value: content})
	for _, f := range m.Fields {
		if f.Key == "role" || f.Key == "content" {
			continue
		}
		d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(f.Key), Value: exec.AsValue(toTemplateValue(f.Value))})
	}
	return d
}

// toTemplateValue turns Objects into ordered gonja dicts, recursively.
func toTemplateValue(v any) any {
	switch x := v.(type) {
	case Object:
		d := exec.NewDict()
		for _, f := range x {
			d.Pairs = append(d.Pairs, &exec.Pair{Key: exec.AsValue(f.Key), Value: exec.AsValue(toTemplateValue(f.Value))})
		}
		return d
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toTemplateValue(e)
		}
		return out
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// environment is gonja's default environment plus what transformers adds.
var environment = func() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(gonja.DefaultEnvironment.Filters)
	if err := filters.Replace("tojson", filterToJSON); err != nil {
		panic(err)
	}
	ctx := exec.EmptyContext().Update(gonja.DefaultContext)
	return &exec.Environment{
		Filters:           filters,
		Tests:             gonja.DefaultEnvironment.Tests,
		ControlStructures: gonja.DefaultEnvironment.ControlStructures,
		Methods:           gonja.DefaultEnvironment.Methods,
		Context:           ctx,
	}
}()

// strftime formats t with Python's strftime directives.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		pad := true
		if f[i] == '-' && i+1 < len(f) { // glibc's no-padding flag
			pad = false
			i++
		}
		num := func(n, width int) {
			if pad {
				fmt.Fprintf(&b, "%0*d", width, n)
			} else {
				fmt.Fprintf(&b, "%d", n)
			}
		}
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'j':
			num(t.YearDay(), 3)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
