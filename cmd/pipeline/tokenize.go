package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/graphpass/graphpass/chat"
	"github.com/graphpass/graphpass/models"
	"github.com/graphpass/graphpass/tokenizer"
	"github.com/spf13/cobra"
)

func init() {
	var (
		modelDir     string
		asJSON       bool
		decode       string
		messages     string
		genPrompt    bool
		chatVars     []string
		addSpecial   bool
		skipSpecial  bool
		showTokens   bool
		cleanUpSpace bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize [flags] [TEXT | -]",
		Short: "Encode text (or a chat) to token ids, or decode ids to text",
		Long: `Encode TEXT ("-" reads standard input) with a model's tokenizer.json, as
Hugging Face tokenizers does. --messages renders a conversation (a JSON list
of {"role", "content"} messages, or {"messages": [...], "tools": [...]})
with the model's chat template first, and encodes the result without adding
special tokens (the template writes them). --decode turns ids back into text.`,
		Example: `  pipeline tokenize --json "Hello, world"
  pipeline tokenize --model ./Qwen3-0.6B --messages chat.json --add-generation-prompt --json
  pipeline tokenize --model ./Qwen3-0.6B --messages chat.json --chat-var enable_thinking=false
  pipeline tokenize --decode 9707,11,1879`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("tokenize: want one TEXT argument, got %d (quote the text)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			modes := 0
			for _, on := range []bool{decode != "", messages != "", len(args) == 1} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return usagef("tokenize: give exactly one of TEXT, --messages FILE or --decode IDS")
			}
			if (genPrompt || len(chatVars) > 0) && messages == "" {
				return usagef("tokenize: --add-generation-prompt and --chat-var need --messages")
			}
			vars := map[string]any{}
			for _, kv := range chatVars {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef("tokenize: --chat-var %q: want NAME=VALUE", kv)
				}
				var val any
				if err := json.Unmarshal([]byte(v), &val); err != nil {
					val = v // not JSON: a plain string
				}
				vars[k] = val
			}
			var ids []int32
			if decode != "" {
				for _, f := range strings.FieldsFunc(decode, func(r rune) bool { return r == ',' || r == ' ' }) {
					n, err := strconv.ParseInt(f, 10, 32)
					if err != nil || n < 0 {
						return usagef("tokenize: --decode: %q is not a token id", f)
					}
					ids = append(ids, int32(n))
				}
			}

			if modelDir == "" {
				d, err := models.DefaultDir()
				if err != nil {
					return err
				}
				modelDir = d
			}
			tok, err := tokenizer.Load(modelDir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()

			if decode != "" {
				for _, id := range ids {
					if int(id) >= tok.VocabSize() {
						return fmt.Errorf("tokenize: --decode: id %d is outside the vocabulary (size %d)", id, tok.VocabSize())
					}
				}
				text := tok.Decode(ids, tokenizer.DecodeOptions{SkipSpecial: skipSpecial, CleanUpSpaces: cleanUpSpace})
				if asJSON {
					return tokenizeWriteJSON(out, map[string]any{"text": text})
				}
				_, err := fmt.Fprintln(out, text)
				return err
			}

			var text, rendered string
			hasRendered := false
			if messages != "" {
				data, err := tokenizeReadInput(cmd, messages)
				if err != nil {
					return err
				}
				conv, err := chat.ParseConversation(data)
				if err != nil {
					return fmt.Errorf("tokenize: %s: %w", messages, err)
				}
				tpl, err := chat.Load(modelDir)
				if err != nil {
					return err
				}
				rendered, err = tpl.Render(conv.Messages, chat.Options{AddGenerationPrompt: genPrompt, Tools: conv.Tools, Vars: vars})
				if err != nil {
					return err
				}
				text, hasRendered, addSpecial = rendered, true, false
			} else {
				text = args[0]
				if text == "-" {
					data, err := tokenizeReadInput(cmd, "-")
					if err != nil {
						return err
					}
					text = string(data)
				}
			}
			ids = tok.Encode(text, addSpecial)
			if asJSON {
				res := struct {
					Text   *string  `json:"text,omitempty"`
					IDs    []int32  `json:"ids"`
					Tokens []string `json:"tokens,omitempty"`
				}{IDs: ids}
				if hasRendered {
					res.Text = &rendered
				}
				if res.IDs == nil {
					res.IDs = []int32{}
				}
				if showTokens {
					res.Tokens = tokenizeTokenStrings(tok, ids)
				}
				return tokenizeWriteJSON(out, res)
			}
			if hasRendered {
				fmt.Fprint(out, rendered)
				if !strings.HasSuffix(rendered, "\n") {
					fmt.Fprintln(out)
				}
			}
			strs := make([]string, len(ids))
			for i, id := range ids {
				strs[i] = strconv.Itoa(int(id))
			}
			fmt.Fprintln(out, strings.Join(strs, " "))
			if showTokens {
				q := make([]string, len(ids))
				for i, s := range tokenizeTokenStrings(tok, ids) {
					q[i] = strconv.Quote(s)
				}
				fmt.Fprintln(out, strings.Join(q, " "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model directory with tokenizer.json (default: the bundled "+models.DefaultName+")")
	f.BoolVar(&asJSON, "json", false, `print JSON: {"ids": [...]}, with --messages {"text": ..., "ids": [...]}, with --decode {"text": ...}`)
	f.StringVar(&decode, "decode", "", "decode comma-separated token ids to text")
	f.StringVar(&messages, "messages", "", `render a conversation from a JSON file ("-" = standard input) with the chat template`)
	f.BoolVar(&genPrompt, "add-generation-prompt", false, "end the rendered chat with the assistant header")
	f.StringArrayVar(&chatVars, "chat-var", nil, "extra chat-template variable NAME=VALUE (VALUE as JSON if it parses), e.g. enable_thinking=false")
	f.BoolVar(&addSpecial, "add-special-tokens", true, "add the BOS/EOS tokens the tokenizer's post-processor calls for (TEXT only)")
	f.BoolVar(&skipSpecial, "skip-special-tokens", false, "with --decode, leave out special tokens")
	f.BoolVar(&cleanUpSpace, "clean-up-spaces", false, `with --decode, remove spaces before punctuation (transformers' clean_up_tokenization_spaces)`)
	f.BoolVar(&showTokens, "tokens", false, "also show each id's token string")
	root.AddCommand(cmd)
}

func tokenizeTokenStrings(tok *tokenizer.Tokenizer, ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = tok.Token(id)
	}
	return out
}

func tokenizeReadInput(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenize: %w", err)
	}
	return b, nil
}

func tokenizeWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
