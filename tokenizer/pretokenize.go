package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A span is a piece of normalized text on its way to the model. first
// marks the piece that starts at offset 0 of the original text (the
// Metaspace "first" prepend scheme needs it).
type span struct {
	text  string
	first bool
	raw   bool // text still needs ByteLevel's byte-to-rune mapping, which the model does itself
}

// A preTokenizer splits spans into smaller ones (words) and may rewrite
// them (ByteLevel maps bytes to printable runes).
type preTokenizer interface {
	preTokenize(in []span) []span
}

type preTokenizerSeq []preTokenizer

func (q preTokenizerSeq) preTokenize(in []span) []span {
	for _, p := range q {
		in = p.preTokenize(in)
	}
	return in
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type             string            `json:"type"`
		PreTokenizers    []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace   *bool             `json:"add_prefix_space"`
		UseRegex         *bool             `json:"use_regex"`
		Pattern          json.RawMessage   `json:"pattern"`
		Behavior         string            `json:"behavior"`
		Invert           bool              `json:"invert"`
		Replacement      string            `json:"replacement"`
		PrependScheme    string            `json:"prepend_scheme"`
		Split            *bool             `json:"split"`
		IndividualDigits bool              `json:"individual_digits"`
		Delimiter        string            `json:"delimiter"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch h.Type {
	case "Sequence":
		var seq preTokenizerSeq
		for i, r := range h.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("sequence item %d: %w", i, err)
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "ByteLevel":
		return byteLevelPre{
			addPrefixSpace: h.AddPrefixSpace == nil || *h.AddPrefixSpace,
			useRegex:       h.UseRegex == nil || *h.UseRegex,
		}, nil
	case "Split":
		p, err := parsePattern(h.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		b, err := parseBehavior(h.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return splitPre{pattern: p, behavior: b, invert: h.Invert}, nil
	case "Metaspace":
		rs := []rune(h.Replacement)
		if len(rs) != 1 {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: replacement %q must be one character", h.Replacement)
		}
		scheme, err := parsePrependScheme(h.PrependScheme, h.AddPrefixSpace)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %w", err)
		}
		return metaspacePre{replacement: h.Replacement, scheme: scheme, split: h.Split == nil || *h.Split}, nil
	case "Digits":
		b := contiguous
		if h.IndividualDigits {
			b = isolated
		}
		return splitPre{pattern: funcPattern(unicode.IsNumber), behavior: b}, nil
	case "Whitespace":
		p, err := compileRegex(`\w+|[^\w\s]+`)
		if err != nil {
			return nil, err
		}
		return splitPre{pattern: p, behavior: removed, invert: true}, nil
	case "WhitespaceSplit":
		return splitPre{pattern: funcPattern(unicode.IsSpace), behavior: removed}, nil
	case "Punctuation":
		b, err := parseBehavior(h.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Punctuation: %w", err)
		}
		return splitPre{pattern: funcPattern(isPunctuation), behavior: b}, nil
	case "BertPreTokenizer":
		return preTokenizerSeq{
			splitPre{pattern: funcPattern(unicode.IsSpace), behavior: removed},
			splitPre{pattern: funcPattern(isPunctuation), behavior: isolated},
		}, nil
	case "CharDelimiterSplit":
		rs := []rune(h.Delimiter)
		if len(rs) != 1 {
			return nil, fmt.Errorf("CharDelimiterSplit: delimiter %q must be one character", h.Delimiter)
		}
		d := rs[0]
		return splitPre{pattern: funcPattern(func(r rune) bool { return r == d }), behavior: removed}, nil
	case "":
		return nil, fmt.Errorf("pre_tokenizer without a \"type\"")
	default:
		return nil, fmt.Errorf("pre_tokenizer type %q: %w", h.Type, ErrUnsupported)
	}
}

func isPunctuation(r rune) bool {
	// Rust's char::is_ascii_punctuation also counts the ASCII symbols.
	return unicode.IsPunct(r) || (r < utf8.RuneSelf && strings.ContainsRune("$+<=>^`|~", r))
}

// byteLevelPre splits with the GPT-2 regex (use_regex) and maps every
// byte to its printable rune. When it is the last pre-tokenizer, the
// mapping is left to the model (deferMap), which looks words up by their
// raw bytes and so builds no mapped strings for words it has seen.
type byteLevelPre struct{ addPrefixSpace, useRegex, deferMap bool }

func (p byteLevelPre) preTokenize(in []span) []span {
	var out []span
	var ms [][2]int
	for _, sp := range in {
		t := sp.text
		if p.addPrefixSpace && !strings.HasPrefix(t, " ") {
			t = " " + t
		}
		if !p.useRegex {
			out = append(out, p.span(t, sp.first))
			continue
		}
		ms = scanner{}.find(ms[:0], t)
		for k, m := range ms {
			out = append(out, p.span(t[m[0]:m[1]], sp.first && k == 0))
		}
	}
	return out
}

func (p byteLevelPre) span(s string, first bool) span {
	if p.deferMap {
		return span{text: s, first: first, raw: true}
	}
	return span{text: byteLevelEncode(s), first: first}
}

// Split behaviors, as in HF tokenizers' SplitDelimiterBehavior.
type behavior int

const (
	removed behavior = iota
	isolated
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (behavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return removed, nil
	case "isolated", "":
		return isolated, nil
	case "mergedwithprevious", "merged_with_previous":
		return mergedWithPrevious, nil
	case "mergedwithnext", "merged_with_next":
		return mergedWithNext, nil
	case "contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type splitPre struct {
	pattern  pattern
	behavior behavior
	invert   bool
}

type segment struct {
	start, end int
	match      bool
}

func (p splitPre) preTokenize(in []span) []span {
	var out []span
	var ms [][2]int
	for _, sp := range in {
		ms = p.pattern.find(ms[:0], sp.text)
		segs := splitSegments(sp.text, ms, p.invert, p.behavior)
		for k, s := range segs {
			out = append(out, span{text: sp.text[s.start:s.end], first: sp.first && k == 0 && s.start == 0})
		}
	}
	return out
}

// splitSegments applies a split behavior to the matches of a pattern,
// following HF tokenizers' NormalizedString::split; empty pieces are
// dropped.
func splitSegments(s string, ms [][2]int, invert bool, b behavior) []segment {
	var segs []segment
	prev := 0
	for _, m := range ms {
		if m[0] != prev {
			segs = append(segs, segment{prev, m[0], invert})
		}
		segs = append(segs, segment{m[0], m[1], !invert})
		prev = m[1]
	}
	if prev != len(s) {
		segs = append(segs, segment{prev, len(s), invert})
	}
	var out []segment
	switch b {
	case removed:
		for _, g := range segs {
			if !g.match {
				out = append(out, g)
			}
		}
	case isolated:
		out = segs
	case mergedWithPrevious:
		prevMatch := false
		for _, g := range segs {
			if g.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = g.end
			} else {
				out = append(out, g)
			}
			prevMatch = g.match
		}
	case mergedWithNext:
		prevMatch := false
		for i := len(segs) - 1; i >= 0; i-- {
			g := segs[i]
			if g.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = g.start
			} else {
				out = append(out, g)
			}
			prevMatch = g.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case contiguous:
		prevMatch := false
		for _, g := range segs {
			if g.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = g.end
			} else {
				out = append(out, g)
			}
			prevMatch = g.match
		}
	}
	kept := out[:0]
	for _, g := range out {
		if g.end > g.start {
			kept = append(kept, g)
		}
	}
	return kept
}

// funcPattern matches every single rune for which f is true.
type funcPattern func(rune) bool

func (f funcPattern) find(dst [][2]int, s string) [][2]int {
	for i, r := range s {
		if f(r) {
			dst = append(dst, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return dst
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

func parsePrependScheme(s string, addPrefixSpace *bool) (prependScheme, error) {
	var ps prependScheme
	switch s {
	case "always", "":
		ps = prependAlways
	case "first":
		ps = prependFirst
	case "never":
		ps = prependNever
	default:
		return 0, fmt.Errorf("unknown prepend_scheme %q", s)
	}
	if addPrefixSpace != nil && !*addPrefixSpace {
		if ps != prependNever && s != "" {
			return 0, fmt.Errorf("add_prefix_space false does not match prepend_scheme %q", s)
		}
		ps = prependNever
	}
	return ps, nil
}

// metaspacePre is SentencePiece's whitespace handling: spaces become '▁',
// a '▁' is prepended per the scheme, and words start at each '▁'.
type metaspacePre struct {
	replacement string
	scheme      prependScheme
	split       bool
}

func (p metaspacePre) preTokenize(in []span) []span {
	var out []span
	lit := literalPattern(p.replacement)
	for _, sp := range in {
		t := strings.ReplaceAll(sp.text, " ", p.replacement)
		if !strings.HasPrefix(t, p.replacement) &&
			(p.scheme == prependAlways || (p.scheme == prependFirst && sp.first)) {
			t = p.replacement + t
		}
		if !p.split {
			out = append(out, span{text: t, first: sp.first})
			continue
		}
		for k, g := range splitSegments(t, lit.find(nil, t), false, mergedWithNext) {
			out = append(out, span{text: t[g.start:g.end], first: sp.first && k == 0})
		}
	}
	return out
}
