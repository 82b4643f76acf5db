package tokenizer

import "strings"

// StreamDecoder turns token ids into text as they arrive. A character
// whose bytes are split across tokens is held back until it is complete;
// the pieces it returns concatenate to Decode of all ids (for text that
// decodes to valid UTF-8).
//
// It decodes a short window of recent ids, as HF tokenizers' DecodeStream
// does, so decoders that look at neighbouring tokens (Metaspace's leading
// space) behave as in a whole-sequence Decode.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int32
	prefix      string // decoded text of ids[:prefixLen]
	prefixRaw   string
	prefixLen   int
}

// NewStreamDecoder returns a StreamDecoder; skipSpecial drops special
// tokens as Decode's SkipSpecial does.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Add appends one id and returns the text it completes ("" when it only
// starts a character, or is a skipped special token).
func (d *StreamDecoder) Add(id int32) string {
	d.ids = append(d.ids, id)
	raw := d.t.decode(d.ids, d.skipSpecial, true)
	if len(raw) <= len(d.prefixRaw) || incompleteTail(raw) > 0 {
		return ""
	}
	text := d.t.decode(d.ids, d.skipSpecial, false)
	var out string
	if strings.HasPrefix(text, d.prefix) {
		out = text[len(d.prefix):]
	} else {
		// Replacement characters before now-complete bytes changed; emit
		// what differs after the common prefix rather than repeat text.
		k := 0
		for k < len(text) && k < len(d.prefix) && text[k] == d.prefix[k] {
			k++
		}
		out = text[k:]
	}
	// Slide the window: keep the ids after the old prefix as context.
	d.ids = append(d.ids[:0], d.ids[d.prefixLen:]...)
	d.prefixLen = len(d.ids)
	d.prefixRaw = d.t.decode(d.ids, d.skipSpecial, true)
	d.prefix = d.t.decode(d.ids, d.skipSpecial, false)
	return out
}

// Flush returns any held-back bytes (as U+FFFD) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	text := d.t.decode(d.ids, d.skipSpecial, false)
	var out string
	if strings.HasPrefix(text, d.prefix) {
		out = text[len(d.prefix):]
	}
	d.ids, d.prefix, d.prefixRaw, d.prefixLen = d.ids[:0], "", "", 0
	return out
}
