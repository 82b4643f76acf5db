package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A postProcessor adds the special tokens a model expects around an
// encoded text (BOS, EOS, CLS/SEP) when add_special_tokens is on. For a
// single text every processor of tokenizer.json only wraps it, so it is
// the ids it puts before and after.
type postProcessor struct {
	before, after []int32
}

// then wraps the result of p with q.
func (p postProcessor) then(q postProcessor) postProcessor {
	return postProcessor{
		before: append(append([]int32(nil), q.before...), p.before...),
		after:  append(append([]int32(nil), p.after...), q.after...),
	}
}

func parsePostProcessor(raw json.RawMessage, idOf func(string) (int32, bool)) (postProcessor, error) {
	if isNull(raw) {
		return postProcessor{}, nil
	}
	var h struct {
		Type          string            `json:"type"`
		Processors    []json.RawMessage `json:"processors"`
		Single        []json.RawMessage `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
		CLS []json.RawMessage `json:"cls"`
		SEP []json.RawMessage `json:"sep"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return postProcessor{}, fmt.Errorf("post_processor: %w", err)
	}
	switch h.Type {
	case "ByteLevel":
		return postProcessor{}, nil
	case "Sequence":
		var seq postProcessor
		for i, r := range h.Processors {
			p, err := parsePostProcessor(r, idOf)
			if err != nil {
				return postProcessor{}, fmt.Errorf("sequence item %d: %w", i, err)
			}
			seq = seq.then(p)
		}
		return seq, nil
	case "TemplateProcessing":
		var t postProcessor
		seen := false
		for i, r := range h.Single {
			name, isSeq, err := templatePiece(r)
			if err != nil {
				return postProcessor{}, fmt.Errorf("TemplateProcessing single[%d]: %w", i, err)
			}
			if isSeq {
				if name != "A" {
					return postProcessor{}, fmt.Errorf("TemplateProcessing single[%d]: sequence %q in a single template", i, name)
				}
				seen = true
				continue
			}
			st, ok := h.SpecialTokens[name]
			if !ok {
				return postProcessor{}, fmt.Errorf("TemplateProcessing single[%d]: special token %q missing from special_tokens", i, name)
			}
			if seen {
				t.after = append(t.after, st.IDs...)
			} else {
				t.before = append(t.before, st.IDs...)
			}
		}
		return t, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := pairID(h.CLS, idOf)
		if err != nil {
			return postProcessor{}, fmt.Errorf("%s cls: %w", h.Type, err)
		}
		sep, err := pairID(h.SEP, idOf)
		if err != nil {
			return postProcessor{}, fmt.Errorf("%s sep: %w", h.Type, err)
		}
		return postProcessor{before: []int32{cls}, after: []int32{sep}}, nil
	case "":
		return postProcessor{}, fmt.Errorf("post_processor without a \"type\"")
	default:
		return postProcessor{}, fmt.Errorf("post_processor type %q: %w", h.Type, ErrUnsupported)
	}
}

// templatePiece reads {"SpecialToken": {"id": "<s>"}}, {"Sequence":
// {"id": "A"}}, or the short string forms "$A", "$B", "<s>".
func templatePiece(raw json.RawMessage) (name string, isSeq bool, err error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, "$") {
			id, _, _ := strings.Cut(s[1:], ":")
			switch id {
			case "", "A", "a", "0":
				return "A", true, nil
			case "B", "b", "1":
				return "B", true, nil
			}
			return "", false, fmt.Errorf("bad sequence %q", s)
		}
		name, _, _ := strings.Cut(s, ":")
		return name, false, nil
	}
	var p struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", false, err
	}
	switch {
	case p.SpecialToken != nil:
		return p.SpecialToken.ID, false, nil
	case p.Sequence != nil:
		return p.Sequence.ID, true, nil
	}
	return "", false, fmt.Errorf("want SpecialToken or Sequence, got %s", truncate(string(raw), 60))
}

// pairID reads a ["token", id] pair.
func pairID(raw []json.RawMessage, idOf func(string) (int32, bool)) (int32, error) {
	if len(raw) != 2 {
		return 0, fmt.Errorf("want [token, id]")
	}
	var id int32
	if err := json.Unmarshal(raw[1], &id); err != nil {
		var tok string
		if err := json.Unmarshal(raw[0], &tok); err != nil {
			return 0, fmt.Errorf("want [token, id]")
		}
		var ok bool
		if id, ok = idOf(tok); !ok {
			return 0, fmt.Errorf("token %q not in the vocabulary", tok)
		}
	}
	return id, nil
}
