package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// AddedToken is an entry of tokenizer.json's added_tokens: a string that
// is cut out of the text before BPE runs and always maps to its own id.
type AddedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"` // match only as a whole word
	LStrip     bool   `json:"lstrip"`      // also swallow the whitespace before it
	RStrip     bool   `json:"rstrip"`      // and after it
	Normalized bool   `json:"normalized"`  // match against normalized text, not the raw input
	Special    bool   `json:"special"`     // skipped by Decode(ids, true)
}

// addedVocab finds added tokens in text, leftmost-longest, as HF
// tokenizers' AddedVocabulary does with its Aho-Corasick automata: one for
// tokens matched on the raw text, one for those matched after
// normalization.
type addedVocab struct {
	byID      map[int32]*AddedToken
	byContent map[string]int32
	decodeAs  map[int32]string // normalized content of normalized tokens, which Decode emits
	raw, norm *trie
}

func newAddedVocab(tokens []AddedToken, n normalizer) *addedVocab {
	a := &addedVocab{
		byID:      map[int32]*AddedToken{},
		byContent: map[string]int32{},
		decodeAs:  map[int32]string{},
		raw:       newTrie(),
		norm:      newTrie(),
	}
	for i := range tokens {
		t := &tokens[i]
		if t.Content == "" {
			continue
		}
		a.byID[t.ID] = t
		a.byContent[t.Content] = t.ID
		if !t.Normalized {
			a.raw.add(t.Content, t.ID)
			continue
		}
		pat := t.Content
		if n != nil {
			if nc := n.normalize(t.Content); nc != t.Content {
				a.decodeAs[t.ID] = nc
				pat = nc
			}
		}
		a.norm.add(pat, t.ID)
	}
	return a
}

// piece is a span of text and, when it is an added token, its id.
type piece struct {
	text  string
	id    int32 // -1: text to normalize and tokenize
	first bool  // starts at offset 0 of the original text
	raw   bool  // see span.raw
}

// split cuts the added tokens of t out of the text pieces of in.
func (a *addedVocab) split(in []piece, t *trie) []piece {
	if t.empty() {
		return in
	}
	var out []piece
	for _, p := range in {
		if p.id >= 0 || p.text == "" {
			out = append(out, p)
			continue
		}
		s := p.text
		last := 0
		for _, m := range t.findAll(s) {
			start, stop := m.start, m.end
			tok := a.byID[m.id]
			if tok.SingleWord {
				if (start > 0 && endsWithWord(s[:start])) || (stop < len(s) && startsWithWord(s[stop:])) {
					continue
				}
			}
			if start < last {
				continue // inside whitespace an earlier rstrip took
			}
			if tok.LStrip {
				start = max(spaceStartAtEnd(s[:start]), last)
			}
			if tok.RStrip {
				stop += spaceLenAtStart(s[stop:])
			}
			if last < start {
				out = append(out, piece{text: s[last:start], id: -1, first: p.first && last == 0})
			}
			out = append(out, piece{text: s[start:stop], id: m.id})
			last = stop
		}
		if last < len(s) {
			out = append(out, piece{text: s[last:], id: -1, first: p.first && last == 0})
		}
	}
	return out
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Pc, r)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWordRune(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r)
}

// spaceStartAtEnd is where the whitespace at the end of s begins.
func spaceStartAtEnd(s string) int {
	i := len(s)
	for i > 0 {
		r, w := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= w
	}
	return i
}

// spaceLenAtStart is the length of the whitespace at the start of s.
func spaceLenAtStart(s string) int {
	for i, r := range s {
		if !unicode.IsSpace(r) {
			return i
		}
	}
	return len(s)
}

// trie is a byte trie of added-token strings.
type trie struct {
	nodes []trieNode
	first [256]bool // bytes some token starts with
}

type trieNode struct {
	next map[byte]int32
	id   int32 // -1: no token ends here
}

type trieMatch struct {
	start, end int
	id         int32
}

func newTrie() *trie { return &trie{nodes: []trieNode{{id: -1}}} }

func (t *trie) empty() bool { return len(t.nodes) == 1 }

func (t *trie) add(s string, id int32) {
	n := int32(0)
	for i := 0; i < len(s); i++ {
		nx, ok := t.nodes[n].next[s[i]]
		if !ok {
			nx = int32(len(t.nodes))
			t.nodes = append(t.nodes, trieNode{id: -1})
			if t.nodes[n].next == nil {
				t.nodes[n].next = map[byte]int32{}
			}
			t.nodes[n].next[s[i]] = nx
		}
		n = nx
	}
	t.first[s[0]] = true
	t.nodes[n].id = id
}

// findAll returns the leftmost-longest non-overlapping matches in s.
func (t *trie) findAll(s string) []trieMatch {
	var out []trieMatch
	for i := 0; i < len(s); {
		if !t.first[s[i]] {
			i++
			continue
		}
		n, end, id := int32(0), -1, int32(-1)
		for j := i; j < len(s); j++ {
			nx, ok := t.nodes[n].next[s[j]]
			if !ok {
				break
			}
			n = nx
			if t.nodes[n].id >= 0 {
				end, id = j+1, t.nodes[n].id
			}
		}
		if end < 0 {
			i++
			continue
		}
		out = append(out, trieMatch{i, end, id})
		i = end
	}
	return out
}
