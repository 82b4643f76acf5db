package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/chat"
	"github.com/graphpass/graphpass/generate"
	"github.com/graphpass/graphpass/generate/sample"
	"github.com/graphpass/graphpass/plugins"
	"github.com/graphpass/graphpass/tokenizer"
)

// Tokenizer loads the model's tokenizer; nil without error when the model
// directory has none (then only token ids work).
func (p *Prepared) Tokenizer() (*tokenizer.Tokenizer, error) {
	return loadTokenizer(p.ModelDir)
}

func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	if !fileExists(filepath.Join(dir, "tokenizer.json")) && !fileExists(filepath.Join(dir, "tokenizer.json.gz")) {
		return nil, nil
	}
	return tokenizer.Load(dir)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Prompts returns the token ids to generate from, one row per sequence,
// and the text they encode (after the chat template, when chat is on;
// "" for ids given directly).
func (p *Prepared) Prompts(tok *tokenizer.Tokenizer) ([][]int32, string, error) {
	g := p.Spec.Generate
	if len(g.IDs) > 0 {
		vocab := p.vocab()
		for r, row := range g.IDs {
			for _, id := range row {
				if vocab > 0 && int(id) >= vocab {
					return nil, "", fmt.Errorf("generate: token id %d in row %d is outside the vocabulary (%d ids)", id, r, vocab)
				}
			}
		}
		return g.IDs, "", nil
	}
	if g.Prompt == "" && !g.Chat {
		return nil, "", ErrNoPrompt
	}
	if tok == nil {
		return nil, "", fmt.Errorf("generate: model %s has no tokenizer.json: give token ids instead of a prompt", p.ModelDir)
	}
	text, special := g.Prompt, true
	if g.Chat {
		var err error
		if text, err = renderChat(p.ModelDir, g.System, g.Prompt); err != nil {
			return nil, "", err
		}
		special = false // the template wrote the special tokens itself
	}
	ids := tok.Encode(text, special)
	if len(ids) == 0 {
		return nil, "", fmt.Errorf("generate: the prompt %q encodes to no tokens", text)
	}
	return [][]int32{ids}, text, nil
}

func (p *Prepared) vocab() int {
	if p.Checkpoint != nil && p.Checkpoint.Config != nil {
		return p.Checkpoint.Config.VocabSize
	}
	return 0
}

// Params returns the generation parameters: the model's
// generation_config.json (greedy without one; its EOS ids, if any, stop
// rows), overridden by the spec.
func (p *Prepared) Params() (generate.Params, error) {
	gc, err := generate.LoadGenerationConfig(p.ModelDir)
	if err != nil {
		return generate.Params{}, err
	}
	prm := generate.DefaultParams(gc)
	g := p.Spec.Generate
	prm.MaxNewTokens = g.MaxNewTokens
	if prm.MaxNewTokens == 0 {
		prm.MaxNewTokens = DefaultMaxNewTokens
	}
	prm.IgnoreEOS = g.IgnoreEOS
	s := g.Sampling
	if s.DoSample != nil && !*s.DoSample {
		// Greedy; a repetition penalty still applies, as in transformers.
		prm.Sampling = sample.Params{RepetitionPenalty: prm.Sampling.RepetitionPenalty}
	}
	if s.DoSample != nil && *s.DoSample && prm.Sampling.Temperature <= 0 {
		// Sampling where the config is greedy: transformers' defaults.
		prm.Sampling.Temperature = 1
		if prm.Sampling.TopK == 0 {
			prm.Sampling.TopK = generate.DefaultTopK
		}
	}
	if s.Temperature != nil {
		prm.Sampling.Temperature = *s.Temperature
	}
	if s.TopK != nil {
		prm.Sampling.TopK = *s.TopK
	}
	if s.TopP != nil {
		prm.Sampling.TopP = *s.TopP
	}
	if s.MinP != nil {
		prm.Sampling.MinP = *s.MinP
	}
	if s.RepetitionPenalty != nil {
		prm.Sampling.RepetitionPenalty = *s.RepetitionPenalty
	}
	if s.Seed != nil {
		prm.Seed = *s.Seed
	}
	return prm, prm.Validate()
}

// renderChat renders a one-turn conversation (after an optional system
// message) with the model's chat template, ready for the assistant's reply.
func renderChat(dir, system, prompt string) (string, error) {
	var msgs []chat.Message
	if system != "" {
		msgs = append(msgs, chat.Message{Role: "system", Content: system})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: prompt})
	return chat.Render(dir, msgs, chat.Options{AddGenerationPrompt: true})
}

// Generation is the outcome of Generate.
type Generation struct {
	Prompt    string            // the prompt text after the chat template ("" for ids)
	PromptIDs [][]int32         // one row per sequence
	NewIDs    [][]int32         // the generated ids per row (an EOS that stopped a row included)
	Text      []string          // the generated text per row (nil without a tokenizer)
	Finish    []generate.Finish // why each row stopped
	Params    generate.Params
	InPlugin  bool // the decoding loop ran inside the runtime plugin
	Result    *generate.Result
	Stats     backend.Stats // the model's stats afterwards
	Wall      time.Duration // the whole generation, as the user waited for it
}

// GenerateOptions stream a generation.
type GenerateOptions struct {
	// OnText receives generated text as soon as it is complete, per row
	// (needs a tokenizer). OnToken receives every token.
	OnText  func(row int, text string) error
	OnToken func(generate.Event) error
}

// Generate runs the spec's generation on a loaded model m: tokenizes the
// prompt (or takes the ids), opens a session, and decodes, inside the
// plugin when the runtime is one (tokens stream back), else here.
func (p *Prepared) Generate(ctx context.Context, m backend.Model, o GenerateOptions) (*Generation, error) {
	tok, err := p.Tokenizer()
	if err != nil {
		return nil, err
	}
	prompts, text, err := p.Prompts(tok)
	if err != nil {
		return nil, err
	}
	prm, err := p.Params()
	if err != nil {
		return nil, err
	}
	longest := 0
	for _, r := range prompts {
		longest = max(longest, len(r))
	}
	sess, err := m.NewSession(ctx, backend.SessionOptions{Batch: len(prompts), MaxSeq: longest + prm.MaxNewTokens})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	out := &Generation{Prompt: text, PromptIDs: prompts, Params: prm}
	var streamText func(generate.Event) error
	if tok != nil && o.OnText != nil {
		streamText = generate.TextStreamer(tok, true, o.OnText)
	}
	onToken := func(e generate.Event) error {
		if o.OnToken != nil {
			if err := o.OnToken(e); err != nil {
				return err
			}
		}
		if streamText != nil {
			return streamText(e)
		}
		return nil
	}
	total := len(prompts) * prm.MaxNewTokens
	done := 0
	p.opts.progress("generate", 0, total, false)
	progressed := func(e generate.Event) error {
		done++
		p.opts.progress("generate", done, total, false)
		return onToken(e)
	}
	t0 := time.Now()
	var res *generate.Result
	if ps, ok := sess.(*plugins.Session); ok {
		out.InPlugin = true
		res, err = ps.Generate(ctx, prompts, prm, progressed)
	} else {
		res, err = generate.Run(ctx, sess, prompts, prm, progressed)
	}
	if err != nil && !errors.Is(err, generate.ErrStop) {
		return nil, err
	}
	out.Wall = time.Since(t0)
	p.opts.progress("generate", total, total, true)
	out.Result, out.NewIDs, out.Finish = res, res.Tokens, res.Finish
	if tok != nil {
		for _, ids := range res.Tokens {
			out.Text = append(out.Text, tok.Decode(ids, tokenizer.DecodeOptions{SkipSpecial: true}))
		}
	}
	out.Stats = m.Stats()
	return out, nil
}
