package tokenizer

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpe is the BPE model of HF tokenizers: a vocabulary, and merges ranked
// by their order in the file and keyed by the pair of token ids they join.
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]mergeRule // pairKey(a, b) -> rank and result
	unk          int32                // -1 without an unknown token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string     // continuing_subword_prefix
	suffix       string     // end_of_word_suffix
	byteIDs      [256]int32 // <0xNN> tokens, for byte fallback
	byteSyms     [256]int32 // byte-level symbol of each byte ("Ġ" for ' '), -1 if absent

	cache    wordCache // by word
	rawCache wordCache // by the raw bytes of byte-level words
}

type mergeRule struct {
	rank  int32
	newID int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

type bpeJSON struct {
	Type                    string
	Vocab                   map[string]int32
	Merges                  [][2]string
	UnkToken                *string
	FuseUnk                 bool
	ByteFallback            bool
	IgnoreMerges            bool
	ContinuingSubwordPrefix *string
	EndOfWordSuffix         *string
	Dropout                 *float64
}

// parseBPEJSON reads the model object of tokenizer.json; vocab and merges
// with the fast reader, the small fields with encoding/json.
func parseBPEJSON(fields map[string][]byte) (*bpeJSON, error) {
	m := &bpeJSON{}
	var err error
	if v, ok := fields["vocab"]; ok {
		if m.Vocab, err = parseVocab(v); err != nil {
			return nil, err
		}
	}
	if v, ok := fields["merges"]; ok && !isNull(v) {
		if m.Merges, err = parseMergeList(v); err != nil {
			return nil, err
		}
	}
	for key, dst := range map[string]any{
		"type": &m.Type, "unk_token": &m.UnkToken, "fuse_unk": &m.FuseUnk,
		"byte_fallback": &m.ByteFallback, "ignore_merges": &m.IgnoreMerges,
		"continuing_subword_prefix": &m.ContinuingSubwordPrefix,
		"end_of_word_suffix":        &m.EndOfWordSuffix, "dropout": &m.Dropout,
	} {
		if v, ok := fields[key]; ok && !isNull(v) {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("BPE %s: %w", key, err)
			}
		}
	}
	return m, nil
}

func newBPE(m *bpeJSON) (*bpe, error) {
	if m.Vocab == nil {
		return nil, fmt.Errorf("BPE model has no vocab")
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return nil, fmt.Errorf("BPE dropout %g (a training-time option): %w", *m.Dropout, ErrUnsupported)
	}
	b := &bpe{
		vocab:        m.Vocab,
		unk:          -1,
		fuseUnk:      m.FuseUnk,
		byteFallback: m.ByteFallback,
		ignoreMerges: m.IgnoreMerges,
	}
	if m.ContinuingSubwordPrefix != nil {
		b.prefix = *m.ContinuingSubwordPrefix
	}
	if m.EndOfWordSuffix != nil {
		b.suffix = *m.EndOfWordSuffix
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("BPE unk_token %q is not in the vocab", *m.UnkToken)
		}
		b.unk = id
	}
	for i := range b.byteIDs {
		b.byteIDs[i], b.byteSyms[i] = -1, -1
		if id, ok := m.Vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			b.byteIDs[i] = id
		}
		if id, ok := m.Vocab[byteRuneStr[i]]; ok {
			b.byteSyms[i] = id
		}
	}
	b.merges = make(map[uint64]mergeRule, len(m.Merges))
	var buf []byte
	for i, p := range m.Merges {
		a, ok := m.Vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): %q is not in the vocab", i, p[0], p[1], p[0])
		}
		c, ok := m.Vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): %q is not in the vocab", i, p[0], p[1], p[1])
		}
		buf = append(append(buf[:0], p[0]...), strings.TrimPrefix(p[1], b.prefix)...)
		n, ok := m.Vocab[string(buf)] // no allocation for a map index
		if !ok {
			return nil, fmt.Errorf("BPE merge %d (%q %q): result %q is not in the vocab", i, p[0], p[1], buf)
		}
		b.merges[pairKey(a, c)] = mergeRule{int32(i), n}
	}
	return b, nil
}

// tokenize appends the ids of word.
func (b *bpe) tokenize(dst []int32, word string) []int32 {
	if word == "" {
		return dst
	}
	if b.ignoreMerges {
		if id, ok := b.vocab[word]; ok {
			return append(dst, id)
		}
	}
	if ids, ok := b.cache.get(word); ok {
		return append(dst, ids...)
	}
	start := len(dst)
	dst = b.merge(dst, b.symbols(word))
	if len(word) < 256 {
		b.cache.put(word, dst[start:])
	}
	return dst
}

// tokenizeBytes is tokenize(byteLevelEncode(raw)), without building the
// mapped string for words already seen.
func (b *bpe) tokenizeBytes(dst []int32, raw string) []int32 {
	if raw == "" {
		return dst
	}
	if ids, ok := b.rawCache.get(raw); ok {
		return append(dst, ids...)
	}
	start := len(dst)
	syms := make([]int32, len(raw))
	direct := !b.ignoreMerges
	for i := 0; i < len(raw) && direct; i++ {
		syms[i] = b.byteSyms[raw[i]]
		direct = syms[i] >= 0
	}
	if direct {
		dst = b.merge(dst, syms)
	} else {
		dst = b.tokenize(dst, byteLevelEncode(raw))
	}
	if len(raw) < 256 {
		b.rawCache.put(strings.Clone(raw), dst[start:])
	}
	return dst
}

// symbols is the word split into characters (with the subword prefix and
// word suffix), unknown ones as bytes or the unknown token, as in HF
// tokenizers' BPE::merge_word (including its order of a pending unknown
// token and byte fallbacks).
func (b *bpe) symbols(w string) []int32 {
	syms := make([]int32, 0, len(w))
	unk, unkPending := int32(0), false
	var buf []byte
	for i, r := range w {
		width := utf8.RuneLen(r)
		if r == utf8.RuneError && !strings.HasPrefix(w[i:], "\uFFFD") {
			width = 1
		}
		s := w[i : i+width]
		if i > 0 && b.prefix != "" || i+width == len(w) && b.suffix != "" {
			buf = buf[:0]
			if i > 0 {
				buf = append(buf, b.prefix...)
			}
			buf = append(buf, s...)
			if i+width == len(w) {
				buf = append(buf, b.suffix...)
			}
			s = string(buf)
		}
		if id, ok := b.vocab[s]; ok {
			if unkPending {
				syms = append(syms, unk)
				unkPending = false
			}
			syms = append(syms, id)
			continue
		}
		if b.byteFallback {
			ok := true
			for k := 0; k < len(s); k++ {
				ok = ok && b.byteIDs[s[k]] >= 0
			}
			if ok {
				for k := 0; k < len(s); k++ {
					syms = append(syms, b.byteIDs[s[k]])
				}
				continue
			}
		}
		if b.unk >= 0 {
			if unkPending && !b.fuseUnk {
				syms = append(syms, unk)
			}
			unk, unkPending = b.unk, true
		}
	}
	if unkPending {
		syms = append(syms, unk)
	}
	return syms
}

// merge applies merges to syms, always the lowest-ranked adjacent pair,
// leftmost first among equals, and appends the result to dst.
func (b *bpe) merge(dst []int32, syms []int32) []int32 {
	if len(syms) > 48 {
		return append(dst, b.mergeHeap(syms)...)
	}
	for len(syms) > 1 {
		best, bestRank, bestID := -1, int32(0), int32(0)
		for i := 0; i+1 < len(syms); i++ {
			if m, ok := b.merges[pairKey(syms[i], syms[i+1])]; ok && (best < 0 || m.rank < bestRank) {
				best, bestRank, bestID = i, m.rank, m.newID
			}
		}
		if best < 0 {
			break
		}
		syms[best] = bestID
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return append(dst, syms...)
}

// mergeHeap is merge for long words: a linked list of symbols and a heap
// of candidate merges, stale entries skipped when popped.
func (b *bpe) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	prev := make([]int, n)
	next := make([]int, n)
	alive := make([]bool, n)
	for i := range syms {
		prev[i], next[i], alive[i] = i-1, i+1, true
	}
	next[n-1] = -1
	h := &mergeHeap{}
	for i := 0; i+1 < n; i++ {
		if m, ok := b.merges[pairKey(syms[i], syms[i+1])]; ok {
			h.items = append(h.items, mergeItem{m.rank, i, m.newID})
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		it := heap.Pop(h).(mergeItem)
		p := it.pos
		if !alive[p] || next[p] < 0 {
			continue
		}
		q := next[p]
		if m, ok := b.merges[pairKey(syms[p], syms[q])]; !ok || m.newID != it.newID || m.rank != it.rank {
			continue
		}
		syms[p] = it.newID
		alive[q] = false
		next[p] = next[q]
		if next[q] >= 0 {
			prev[next[q]] = p
		}
		if pp := prev[p]; pp >= 0 {
			if m, ok := b.merges[pairKey(syms[pp], syms[p])]; ok {
				heap.Push(h, mergeItem{m.rank, pp, m.newID})
			}
		}
		if nn := next[p]; nn >= 0 {
			if m, ok := b.merges[pairKey(syms[p], syms[nn])]; ok {
				heap.Push(h, mergeItem{m.rank, p, m.newID})
			}
		}
	}
	out := syms[:0]
	for i := 0; i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

type mergeItem struct {
	rank  int32
	pos   int
	newID int32
}

type mergeHeap struct{ items []mergeItem }

func (h *mergeHeap) Len() int { return len(h.items) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos
}
func (h *mergeHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *mergeHeap) Push(x any)    { h.items = append(h.items, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return it
}

// wordCache remembers the ids of words already tokenized; it stops
// growing at wordCacheCap entries.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

const wordCacheCap = 1 << 16

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string][]int32{}
	}
	if len(c.m) < wordCacheCap {
		c.m[w] = append([]int32(nil), ids...)
	}
	c.mu.Unlock()
}
