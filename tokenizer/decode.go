package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A decoder turns token strings back into text. With raw set, decoders
// that produce bytes (ByteLevel, ByteFallback) keep invalid UTF-8 as is
// instead of replacing it, so the stream decoder can see incomplete
// characters; otherwise they replace it as HF tokenizers does.
type decoder interface {
	decodeChain(tokens []string, raw bool) []string
}

type decoderSeq []decoder

func (q decoderSeq) decodeChain(tokens []string, raw bool) []string {
	for _, d := range q {
		tokens = d.decodeChain(tokens, raw)
	}
	return tokens
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var h struct {
		Type          string            `json:"type"`
		Decoders      []json.RawMessage `json:"decoders"`
		Replacement   string            `json:"replacement"`
		PrependScheme string            `json:"prepend_scheme"`
		AddPrefix     *bool             `json:"add_prefix_space"`
		Pattern       json.RawMessage   `json:"pattern"`
		Content       string            `json:"content"`
		Start         int               `json:"start"`
		Stop          int               `json:"stop"`
		Prefix        *string           `json:"prefix"`
		Cleanup       *bool             `json:"cleanup"`
		Suffix        *string           `json:"suffix"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch h.Type {
	case "Sequence":
		var seq decoderSeq
		for i, r := range h.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("sequence item %d: %w", i, err)
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		rs := []rune(h.Content)
		if len(rs) != 1 {
			return nil, fmt.Errorf("decoder Strip: content %q must be one character", h.Content)
		}
		return stripDecoder{rs[0], h.Start, h.Stop}, nil
	case "Replace":
		p, err := parsePattern(h.Pattern)
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		return replaceDecoder{p, h.Content}, nil
	case "Metaspace":
		rs := []rune(h.Replacement)
		if len(rs) != 1 {
			return nil, fmt.Errorf("decoder Metaspace: replacement %q must be one character", h.Replacement)
		}
		scheme, err := parsePrependScheme(h.PrependScheme, h.AddPrefix)
		if err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %w", err)
		}
		return metaspaceDecoder{rs[0], scheme}, nil
	case "WordPiece":
		d := wordPieceDecoder{prefix: "##", cleanup: true}
		if h.Prefix != nil {
			d.prefix = *h.Prefix
		}
		if h.Cleanup != nil {
			d.cleanup = *h.Cleanup
		}
		return d, nil
	case "BPEDecoder":
		d := bpeDecoder{suffix: "</w>"}
		if h.Suffix != nil {
			d.suffix = *h.Suffix
		}
		return d, nil
	case "":
		return nil, fmt.Errorf("decoder without a \"type\"")
	default:
		return nil, fmt.Errorf("decoder type %q: %w", h.Type, ErrUnsupported)
	}
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(tokens []string, raw bool) []string {
	var b []byte
	for _, t := range tokens {
		b = byteLevelDecodeToken(b, t)
	}
	if raw {
		return []string{string(b)}
	}
	return []string{lossyUTF8(b)}
}

type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(tokens []string, raw bool) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if raw || utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// byteToken parses "<0xNN>".
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(tokens []string, _ bool) []string {
	return []string{strings.Join(tokens, "")}
}

type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(tokens []string, _ bool) []string {
	// Byte-wise, so raw (possibly invalid) bytes pass through untouched.
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for k := 0; k < d.start; k++ {
			r, w := utf8.DecodeRuneInString(t)
			if w == 0 || r != d.content || (r == utf8.RuneError && w == 1) {
				break
			}
			t = t[w:]
		}
		for k := 0; k < d.stop; k++ {
			r, w := utf8.DecodeLastRuneInString(t)
			if w == 0 || r != d.content || (r == utf8.RuneError && w == 1) {
				break
			}
			t = t[:len(t)-w]
		}
		out[i] = t
	}
	return out
}

type replaceDecoder struct {
	pattern pattern
	content string
}

func (d replaceDecoder) decodeChain(tokens []string, _ bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = replaceAll(d.pattern, t, d.content)
	}
	return out
}

type metaspaceDecoder struct {
	replacement rune
	scheme      prependScheme
}

func (d metaspaceDecoder) decodeChain(tokens []string, _ bool) []string {
	out := make([]string, len(tokens))
	rep := string(d.replacement)
	for i, t := range tokens {
		if i == 0 && d.scheme != prependNever {
			out[i] = strings.ReplaceAll(t, rep, "")
		} else {
			out[i] = strings.ReplaceAll(t, rep, " ")
		}
	}
	return out
}

type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

func (d wordPieceDecoder) decodeChain(tokens []string, _ bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if i != 0 {
			if s, ok := strings.CutPrefix(t, d.prefix); ok {
				t = s
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = CleanUpSpaces(t)
		}
		out[i] = t
	}
	return out
}

type bpeDecoder struct{ suffix string }

func (d bpeDecoder) decodeChain(tokens []string, _ bool) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rep := " "
		if i == len(tokens)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, rep)
	}
	return out
}

// CleanUpSpaces is transformers' clean_up_tokenization: it removes the
// space a word-level tokenizer leaves before punctuation and English
// contractions (" ." → ".", " 's" → "'s"). Decode applies it only when
// DecodeOptions.CleanUpSpaces asks.
func CleanUpSpaces(s string) string {
	return cleanUpReplacer.Replace(s)
}

var cleanUpReplacer = strings.NewReplacer(
	" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'",
	" n't", "n't", " 'm", "'m", " 's", "'s", " 've", "'ve", " 're", "'re",
)

// lossyUTF8 converts b to a string, replacing each maximal ill-formed
// subsequence with U+FFFD, as Rust's String::from_utf8_lossy and Python's
// bytes.decode(errors="replace") do (Go's strings.ToValidUTF8 would merge
// adjacent ones).
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			sb.WriteByte(b[i])
			i++
			continue
		}
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			sb.Write(b[i : i+w])
			i += w
			continue
		}
		sb.WriteString("\uFFFD")
		i += validPrefixLen(b[i:])
	}
	return sb.String()
}

// validPrefixLen is the length (at least 1) of the longest prefix of b
// that could start a well-formed UTF-8 sequence: the maximal subpart that
// one U+FFFD replaces.
func validPrefixLen(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k > 0 {
			lo, hi = 0x80, 0xBF
		}
		if x < lo || x > hi {
			break
		}
		n++
	}
	return n
}

// incompleteTail is the number of bytes at the end of b that start a
// UTF-8 sequence still missing bytes (0 if none), so a streaming decoder
// can wait for them.
func incompleteTail(b string) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 {
			tail := []byte(b[len(b)-k:])
			if n := validPrefixLen(tail); n == k && !utf8.FullRune(tail) {
				return k
			}
			return 0
		}
	}
	return 0
}
