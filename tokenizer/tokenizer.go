// Package tokenizer encodes text to token ids and back the way Hugging
// Face tokenizers does, from a checkpoint's tokenizer.json (optionally
// gzipped) and tokenizer_config.json.
//
// It covers the BPE tokenizers of today's decoder LLMs: byte-level BPE
// (GPT-2, Llama 3, Qwen2/3) and SentencePiece-style BPE with byte fallback
// (Llama 2, Mistral), with their normalizers, pre-tokenizers, added and
// special tokens, post-processors and decoders. Other models (WordPiece,
// Unigram, WordLevel) and components it does not know fail to load with an
// error wrapping ErrUnsupported.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// ErrUnsupported is wrapped by errors for tokenizer.json components this
// package does not implement; the message names the component.
var ErrUnsupported = errors.New("not supported")

// Tokenizer encodes and decodes text for one model.
type Tokenizer struct {
	normalizer normalizer
	pre        preTokenizer
	model      *bpe
	post       postProcessor
	decoder    decoder
	added      *addedVocab

	config    Config
	vocabSize int
	idToTok   []string // model vocabulary by id
	bos       int32    // -1 if none
	eos       int32
}

// Load reads dir/tokenizer.json (or dir/tokenizer.json.gz) and
// dir/tokenizer_config.json when present.
func Load(dir string) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		gz := path + ".gz"
		if data, err = readGzip(gz); err == nil {
			path = gz
		} else if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: no tokenizer.json in %s", dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	t, err := New(data, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return t, nil
}

func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// New builds a tokenizer from the contents of a tokenizer.json and a
// parsed tokenizer_config.json (the zero Config if there is none).
func New(tokenizerJSON []byte, cfg Config) (*Tokenizer, error) {
	if bytes.HasPrefix(tokenizerJSON, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(tokenizerJSON))
		if err != nil {
			return nil, err
		}
		if tokenizerJSON, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	top, err := objectFields(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("malformed tokenizer.json: %w", err)
	}
	var f struct {
		AddedTokens   []AddedToken
		Normalizer    json.RawMessage
		PreTokenizer  json.RawMessage
		PostProcessor json.RawMessage
		Decoder       json.RawMessage
	}
	f.Normalizer, f.PreTokenizer = top["normalizer"], top["pre_tokenizer"]
	f.PostProcessor, f.Decoder = top["post_processor"], top["decoder"]
	if a := top["added_tokens"]; !isNull(a) {
		if err := json.Unmarshal(a, &f.AddedTokens); err != nil {
			return nil, fmt.Errorf("malformed tokenizer.json added_tokens: %w", err)
		}
	}
	if isNull(top["model"]) {
		return nil, fmt.Errorf("malformed tokenizer.json: no \"model\"")
	}
	mf, err := objectFields(top["model"])
	if err != nil {
		return nil, fmt.Errorf("malformed tokenizer.json model: %w", err)
	}
	var typ string
	if v, ok := mf["type"]; ok {
		if err := json.Unmarshal(v, &typ); err != nil {
			return nil, fmt.Errorf("malformed tokenizer.json model type: %w", err)
		}
	} else if _, ok := mf["merges"]; ok {
		typ = "BPE" // old files omit the type
	}
	if typ != "BPE" {
		return nil, fmt.Errorf("model type %q: %w (this package implements BPE)", typ, ErrUnsupported)
	}
	m, err := parseBPEJSON(mf)
	if err != nil {
		return nil, fmt.Errorf("malformed tokenizer.json model: %w", err)
	}
	t := &Tokenizer{config: cfg, bos: -1, eos: -1}
	if t.model, err = newBPE(m); err != nil {
		return nil, err
	}
	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.model.prefix == "" && t.model.suffix == "" {
		switch p := t.pre.(type) {
		case byteLevelPre:
			p.deferMap = true
			t.pre = p
		case preTokenizerSeq:
			if last, ok := p[len(p)-1].(byteLevelPre); ok {
				last.deferMap = true
				p[len(p)-1] = last
			}
		}
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	for i, a := range f.AddedTokens {
		if a.ID < 0 {
			return nil, fmt.Errorf("added_tokens[%d] %q: negative id %d", i, a.Content, a.ID)
		}
	}
	t.added = newAddedVocab(f.AddedTokens, t.normalizer)
	if t.post, err = parsePostProcessor(f.PostProcessor, t.TokenID); err != nil {
		return nil, err
	}

	n := 0
	for _, id := range t.model.vocab {
		if int(id) >= n {
			n = int(id) + 1
		}
	}
	if n > 1<<26 {
		return nil, fmt.Errorf("malformed tokenizer.json: vocab id %d out of range", n-1)
	}
	t.idToTok = make([]string, n)
	for s, id := range t.model.vocab {
		if id < 0 {
			return nil, fmt.Errorf("malformed tokenizer.json: vocab entry %q has negative id %d", s, id)
		}
		t.idToTok[id] = s
	}

	t.vocabSize = len(t.idToTok)
	for id := range t.added.byID {
		t.vocabSize = max(t.vocabSize, int(id)+1)
	}
	if cfg.BOSToken != "" {
		if id, ok := t.TokenID(cfg.BOSToken); ok {
			t.bos = id
		}
	}
	if cfg.EOSToken != "" {
		if id, ok := t.TokenID(cfg.EOSToken); ok {
			t.eos = id
		}
	}
	// tokenizer_config.json's add_bos_token / add_eos_token, when set,
	// decide whether BOS leads and EOS ends (as transformers' Llama
	// tokenizers rebuild their post-processor from them).
	if a := cfg.AddBOSToken; a != nil {
		if *a && t.bos < 0 {
			return nil, fmt.Errorf("tokenizer_config.json sets add_bos_token but bos_token %q is not a token", cfg.BOSToken)
		}
		has := len(t.post.before) > 0 && t.post.before[0] == t.bos
		switch {
		case *a && !has:
			t.post.before = append([]int32{t.bos}, t.post.before...)
		case !*a && has:
			t.post.before = t.post.before[1:]
		}
	}
	if a := cfg.AddEOSToken; a != nil {
		if *a && t.eos < 0 {
			return nil, fmt.Errorf("tokenizer_config.json sets add_eos_token but eos_token %q is not a token", cfg.EOSToken)
		}
		n := len(t.post.after)
		has := n > 0 && t.post.after[n-1] == t.eos
		switch {
		case *a && !has:
			t.post.after = append(t.post.after[:n:n], t.eos)
		case !*a && has:
			t.post.after = t.post.after[:n-1]
		}
	}
	return t, nil
}

// Config returns what tokenizer_config.json said.
func (t *Tokenizer) Config() Config { return t.config }

// VocabSize is one more than the largest token id, added tokens included.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// BOS returns the id of tokenizer_config.json's bos_token.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.bos >= 0 }

// EOS returns the id of tokenizer_config.json's eos_token.
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.eos >= 0 }

// TokenID returns the id of a token string (added tokens first).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.added.byContent[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return id, ok
}

// Token returns the string of a token id, as stored in the vocabulary
// (byte-level tokens in their printable form, "Ġhello").
func (t *Tokenizer) Token(id int32) (string, bool) {
	if a, ok := t.added.byID[id]; ok {
		return a.Content, true
	}
	if id >= 0 && int(id) < len(t.idToTok) && t.idToTok[id] != "" {
		return t.idToTok[id], true
	}
	return "", false
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int32) bool {
	a, ok := t.added.byID[id]
	return ok && a.Special
}

// AddedTokens returns the added tokens, in tokenizer.json order.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := make([]AddedToken, 0, len(t.added.byID))
	for _, a := range t.added.byID {
		out = append(out, *a)
	}
	sortAdded(out)
	return out
}

func sortAdded(a []AddedToken) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].ID < a[j-1].ID; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Encode returns the token ids of text. With addSpecial it adds what the
// post-processor and tokenizer_config.json's add_bos_token/add_eos_token
// call for (Hugging Face's add_special_tokens=True); special tokens
// written in the text are always recognized. Invalid UTF-8 in text is read
// as U+FFFD, one per maximal ill-formed subsequence.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	if !utf8.ValidString(text) {
		text = lossyUTF8([]byte(text))
	}
	ids := make([]int32, 0, len(text)/3+2)
	for _, w := range t.words(text) {
		if w.id >= 0 {
			ids = append(ids, w.id)
			continue
		}
		if w.raw {
			ids = t.model.tokenizeBytes(ids, w.text)
		} else {
			ids = t.model.tokenize(ids, w.text)
		}
	}
	if !addSpecial || len(t.post.before)+len(t.post.after) == 0 {
		return ids
	}
	out := make([]int32, 0, len(t.post.before)+len(ids)+len(t.post.after))
	out = append(out, t.post.before...)
	out = append(out, ids...)
	return append(out, t.post.after...)
}

// Tokens returns the token strings Encode(text, false) would produce ids
// for, one per id; handy for debugging.
func (t *Tokenizer) Tokens(text string) []string {
	ids := t.Encode(text, false)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = t.Token(id)
	}
	return out
}

// words runs everything before the model: added tokens cut out, the rest
// normalized and pre-tokenized into words.
func (t *Tokenizer) words(text string) []piece {
	pieces := t.added.split([]piece{{text: text, id: -1, first: true}}, t.added.raw)
	if t.normalizer != nil {
		for i := range pieces {
			if pieces[i].id < 0 {
				pieces[i].text = t.normalizer.normalize(pieces[i].text)
			}
		}
	}
	pieces = t.added.split(pieces, t.added.norm)
	if t.pre == nil {
		return pieces
	}
	var out []piece
	var spans []span
	for _, p := range pieces {
		if p.id >= 0 {
			out = append(out, p)
			continue
		}
		if p.text == "" {
			continue
		}
		spans = t.pre.preTokenize(append(spans[:0], span{text: p.text, first: p.first}))
		for _, s := range spans {
			out = append(out, piece{text: s.text, id: -1, first: s.first, raw: s.raw})
		}
	}
	return out
}

// DecodeOptions tune Decode.
type DecodeOptions struct {
	// SkipSpecial drops special added tokens (BOS, EOS, <|im_end|>...).
	SkipSpecial bool
	// CleanUpSpaces applies transformers' clean_up_tokenization_spaces
	// (see CleanUpSpaces); set it from Config().CleanUpTokenizationSpaces
	// to match transformers' tokenizer.decode.
	CleanUpSpaces bool
}

// Decode returns the text of ids, as HF tokenizers' decode does; ids
// outside the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int32, opts DecodeOptions) string {
	s := t.decode(ids, opts.SkipSpecial, false)
	if opts.CleanUpSpaces {
		s = CleanUpSpaces(s)
	}
	return s
}

func (t *Tokenizer) decode(ids []int32, skipSpecial, raw bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if a, ok := t.added.byID[id]; ok {
			if skipSpecial && a.Special {
				continue
			}
			if nc, ok := t.added.decodeAs[id]; ok {
				toks = append(toks, nc)
			} else {
				toks = append(toks, a.Content)
			}
			continue
		}
		if id >= 0 && int(id) < len(t.idToTok) && t.idToTok[id] != "" {
			toks = append(toks, t.idToTok[id])
		}
	}
	if t.decoder == nil {
		return strings.Join(toks, " ")
	}
	return strings.Join(t.decoder.decodeChain(toks, raw), "")
}
