package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dlclark/regexp2"
)

// A pattern finds the non-overlapping, leftmost-first matches that HF
// tokenizers' Split pre-tokenizer and Replace normalizer act on. It is a
// literal string, a hand-written scanner for the well-known GPT-2 / Llama 3
// / Qwen2 split regexes (Go's regexp lacks their lookahead), or any other
// regex run by regexp2.
type pattern interface {
	// find appends the [start, end) byte ranges of every match in s.
	find(dst [][2]int, s string) [][2]int
}

func parsePattern(raw json.RawMessage) (pattern, error) {
	var p struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pattern: want {\"String\": ...} or {\"Regex\": ...}: %w", err)
	}
	switch {
	case p.String != nil:
		return literalPattern(*p.String), nil
	case p.Regex != nil:
		return compileRegex(*p.Regex)
	}
	return nil, fmt.Errorf("pattern: want {\"String\": ...} or {\"Regex\": ...}, got %s", truncate(string(raw), 80))
}

// compileRegex returns the scanner for a known split regex, else regexp2.
func compileRegex(expr string) (pattern, error) {
	if sc, ok := knownScanners[expr]; ok {
		return sc, nil
	}
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	return regexPattern{re}, nil
}

type literalPattern string

func (p literalPattern) find(dst [][2]int, s string) [][2]int {
	if p == "" {
		return dst
	}
	for off := 0; ; {
		i := strings.Index(s[off:], string(p))
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + i, off + i + len(p)})
		off += i + len(p)
	}
}

// regexPattern runs a regex with regexp2, which counts in runes; find
// converts to byte offsets.
type regexPattern struct{ re *regexp2.Regexp }

func (p regexPattern) find(dst [][2]int, s string) [][2]int {
	if s == "" {
		return dst
	}
	runes := make([]rune, 0, len(s))
	offs := make([]int, 0, len(s)+1)
	for i, r := range s {
		runes = append(runes, r)
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	m, err := p.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		dst = append(dst, [2]int{offs[m.Index], offs[m.Index+m.Length]})
		m, err = p.re.FindNextMatch(m)
	}
	return dst
}

// replaceAll replaces every match of p in s with repl (no $-expansion, as
// in HF tokenizers).
func replaceAll(p pattern, s, repl string) string {
	ms := p.find(nil, s)
	if len(ms) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m[0]])
		b.WriteString(repl)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
