package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Split regexes of the common byte-level BPE tokenizers, matched by a
// hand-written scanner instead of a backtracking regex engine. The scanner
// tries the alternatives in order at each position, as a leftmost-first
// regex does; scanner_test.go proves it equal to regexp2 on random text.
const (
	// GPT-2, RoBERTa, and the ByteLevel pre-tokenizer's use_regex.
	gpt2Regex = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// Llama 3 (and tiktoken's cl100k): case-insensitive contractions, up to
	// three digits per number.
	llama3Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen2 / Qwen3: as Llama 3 but one digit per number.
	qwen2Regex = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownScanners = map[string]pattern{
	gpt2Regex:   scanner{},
	llama3Regex: scanner{modern: true, maxDigits: 3},
	qwen2Regex:  scanner{modern: true, maxDigits: 1},
}

// scanner matches gpt2Regex (modern == false) or the Llama 3 family.
type scanner struct {
	modern    bool
	maxDigits int // 0 = unbounded
}

// Character classes of the regexes.
const (
	clsOther = iota // [^\s\p{L}\p{N}]
	clsLetter
	clsNumber
	clsSpace
)

var asciiClass [128]uint8

func init() {
	for c := 0; c < 128; c++ {
		r := rune(c)
		switch {
		case unicode.IsLetter(r):
			asciiClass[c] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[c] = clsNumber
		case unicode.IsSpace(r):
			asciiClass[c] = clsSpace
		default:
			asciiClass[c] = clsOther
		}
	}
}

// classAt returns the class and width of the rune starting at s[i].
func classAt(s string, i int) (uint8, rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], rune(c), 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	switch {
	case unicode.IsLetter(r):
		return clsLetter, r, w
	case unicode.IsNumber(r):
		return clsNumber, r, w
	case unicode.IsSpace(r):
		return clsSpace, r, w
	}
	return clsOther, r, w
}

// run returns the end of the run of class cls starting at i.
func run(s string, i int, cls uint8) int {
	for i < len(s) {
		c, _, w := classAt(s, i)
		if c != cls {
			break
		}
		i += w
	}
	return i
}

func (sc scanner) find(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		end := sc.match(s, i)
		dst = append(dst, [2]int{i, end})
		i = end
	}
	return dst
}

// match returns the end of the match starting at i. Every character
// starts some alternative's match, so matches tile the text.
func (sc scanner) match(s string, i int) int {
	if s[i] == '\'' {
		if n := sc.contraction(s, i+1); n > 0 {
			return i + 1 + n
		}
	}
	cls, r, w := classAt(s, i)
	if !sc.modern {
		// ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
		start := i
		if r == ' ' && i+1 < len(s) {
			if c, _, _ := classAt(s, i+1); c != clsSpace {
				cls, start = c, i+1
			}
		}
		if cls != clsSpace {
			_, _, w := classAt(s, start)
			return run(s, start+w, cls)
		}
		return sc.spaces(s, i)
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if cls == clsLetter {
		return run(s, i+w, clsLetter)
	}
	if cls != clsNumber && r != '\r' && r != '\n' && i+w < len(s) {
		if c, _, w2 := classAt(s, i+w); c == clsLetter {
			return run(s, i+w+w2, clsLetter)
		}
	}
	// \p{N}{1,maxDigits}
	if cls == clsNumber {
		end, n := i+w, 1
		for end < len(s) && (sc.maxDigits == 0 || n < sc.maxDigits) {
			c, _, w := classAt(s, end)
			if c != clsNumber {
				break
			}
			end += w
			n++
		}
		return end
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	start := -1
	if cls == clsOther {
		start = i
	} else if r == ' ' && i+1 < len(s) {
		if c, _, _ := classAt(s, i+1); c == clsOther {
			start = i + 1
		}
	}
	if start >= 0 {
		end := run(s, start, clsOther)
		for end < len(s) && (s[end] == '\r' || s[end] == '\n') {
			end++
		}
		return end
	}
	// \s*[\r\n]+ : the whitespace run up to its last CR or LF.
	end := run(s, i, clsSpace)
	for k := end - 1; k >= i; k-- {
		if s[k] == '\r' || s[k] == '\n' {
			return k + 1
		}
	}
	return sc.spaces(s, i)
}

// spaces matches '\s+(?!\S)|\s+' at i, where s[i] is whitespace: the run,
// less its last character when a non-space follows and the run is longer
// than one character.
func (sc scanner) spaces(s string, i int) int {
	end := run(s, i, clsSpace)
	if end == len(s) {
		return end
	}
	_, last := utf8.DecodeLastRuneInString(s[i:end])
	if end-last > i {
		return end - last
	}
	return end
}

// contraction returns the length of "s", "t", "re", "ve", "m", "ll" or "d"
// at s[i:] (case-insensitive with Unicode simple folding for the modern
// regexes, so 'ſ' matches 's'), or 0.
func (sc scanner) contraction(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	fold := func(j int) (rune, int) {
		if j >= len(s) {
			return 0, 0
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		if sc.modern {
			if r == 'ſ' {
				r = 's'
			} else if r < utf8.RuneSelf {
				r = unicode.ToLower(r)
			}
		}
		return r, w
	}
	r, w := fold(i)
	switch r {
	case 's', 't', 'm', 'd':
		return w
	case 'r', 'v':
		if r2, w2 := fold(i + w); r2 == 'e' {
			return w + w2
		}
	case 'l':
		if r2, w2 := fold(i + w); r2 == 'l' {
			return w + w2
		}
	}
	return 0
}
