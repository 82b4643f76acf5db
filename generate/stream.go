package generate

import "github.com/graphpass/graphpass/tokenizer"

// TextStreamer returns an onToken callback for Run that decodes each
// row's tokens as they come and calls emit with every piece of text that
// is complete (characters split across tokens wait for their last byte).
// With skipSpecial, special tokens (EOS, <|im_end|>...) produce no text.
func TextStreamer(tok *tokenizer.Tokenizer, skipSpecial bool, emit func(row int, text string) error) func(Event) error {
	decoders := map[int]*tokenizer.StreamDecoder{}
	return func(ev Event) error {
		d := decoders[ev.Row]
		if d == nil {
			d = tok.NewStreamDecoder(skipSpecial)
			decoders[ev.Row] = d
		}
		text := d.Add(ev.ID)
		if ev.Last {
			text += d.Flush()
			delete(decoders, ev.Row)
		}
		if text == "" {
			return nil
		}
		return emit(ev.Row, text)
	}
}
