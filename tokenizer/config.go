package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Config is what tokenizer_config.json (and its companions
// chat_template.jinja / chat_template.json) say about a tokenizer beyond
// tokenizer.json: the special token strings, whether encoding adds BOS or
// EOS, and the chat template.
type Config struct {
	BOSToken string // "" when the model has none
	EOSToken string
	PadToken string
	UnkToken string

	// AddBOSToken and AddEOSToken are nil when the file does not set them;
	// when set they decide whether Encode(text, true) starts with BOS or
	// ends with EOS, whatever tokenizer.json's post-processor says.
	AddBOSToken *bool
	AddEOSToken *bool

	// ChatTemplate is the default Jinja chat template; ChatTemplates holds
	// named ones when the file lists several (the default is "default").
	ChatTemplate  string
	ChatTemplates map[string]string

	AdditionalSpecialTokens   []string
	CleanUpTokenizationSpaces bool
	ModelMaxLength            float64 // transformers writes 1e30 for "no limit"
	TokenizerClass            string
}

// LoadConfig reads dir/tokenizer_config.json, and the chat template from
// dir/chat_template.jinja or dir/chat_template.json when the config has
// none. A directory without tokenizer_config.json gives an empty Config.
func LoadConfig(dir string) (Config, error) {
	var c Config
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return c, fmt.Errorf("tokenizer: %w", err)
	default:
		if c, err = ParseConfig(b); err != nil {
			return c, fmt.Errorf("tokenizer: %s: %w", path, err)
		}
	}
	if c.ChatTemplate == "" {
		if b, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja")); err == nil {
			c.ChatTemplate = string(b)
		} else if b, err := os.ReadFile(filepath.Join(dir, "chat_template.json")); err == nil {
			var ct struct {
				ChatTemplate json.RawMessage `json:"chat_template"`
			}
			if err := json.Unmarshal(b, &ct); err != nil {
				return c, fmt.Errorf("tokenizer: %s: %w", filepath.Join(dir, "chat_template.json"), err)
			}
			if err := c.setChatTemplate(ct.ChatTemplate); err != nil {
				return c, fmt.Errorf("tokenizer: %s: %w", filepath.Join(dir, "chat_template.json"), err)
			}
		}
	}
	return c, nil
}

// ParseConfig parses the contents of a tokenizer_config.json.
func ParseConfig(data []byte) (Config, error) {
	var raw struct {
		BOS            json.RawMessage   `json:"bos_token"`
		EOS            json.RawMessage   `json:"eos_token"`
		Pad            json.RawMessage   `json:"pad_token"`
		Unk            json.RawMessage   `json:"unk_token"`
		AddBOS         *bool             `json:"add_bos_token"`
		AddEOS         *bool             `json:"add_eos_token"`
		ChatTemplate   json.RawMessage   `json:"chat_template"`
		Additional     []json.RawMessage `json:"additional_special_tokens"`
		CleanUp        *bool             `json:"clean_up_tokenization_spaces"`
		ModelMaxLength *float64          `json:"model_max_length"`
		TokenizerClass string            `json:"tokenizer_class"`
	}
	var c Config
	if err := json.Unmarshal(data, &raw); err != nil {
		return c, fmt.Errorf("malformed tokenizer_config.json: %w", err)
	}
	var err error
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"bos_token", raw.BOS, &c.BOSToken}, {"eos_token", raw.EOS, &c.EOSToken}, {"pad_token", raw.Pad, &c.PadToken}, {"unk_token", raw.Unk, &c.UnkToken}} {
		if *f.dst, err = tokenString(f.raw); err != nil {
			return c, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	for i, a := range raw.Additional {
		s, err := tokenString(a)
		if err != nil {
			return c, fmt.Errorf("additional_special_tokens[%d]: %w", i, err)
		}
		c.AdditionalSpecialTokens = append(c.AdditionalSpecialTokens, s)
	}
	c.AddBOSToken, c.AddEOSToken = raw.AddBOS, raw.AddEOS
	c.CleanUpTokenizationSpaces = raw.CleanUp != nil && *raw.CleanUp
	if raw.ModelMaxLength != nil {
		c.ModelMaxLength = *raw.ModelMaxLength
	}
	c.TokenizerClass = raw.TokenizerClass
	if err := c.setChatTemplate(raw.ChatTemplate); err != nil {
		return c, err
	}
	return c, nil
}

// setChatTemplate accepts a string or a list of {"name", "template"}.
func (c *Config) setChatTemplate(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		c.ChatTemplate = s
		return nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("chat_template: want a string or a list of {name, template}: %w", err)
	}
	c.ChatTemplates = map[string]string{}
	for _, t := range list {
		c.ChatTemplates[t.Name] = t.Template
	}
	c.ChatTemplate = c.ChatTemplates["default"]
	return nil
}

// tokenString reads a special token that is null, a string, or an
// AddedToken object {"content": ...}.
func tokenString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", fmt.Errorf("want a string or an object with \"content\", got %s", truncate(string(raw), 60))
	}
	return *obj.Content, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
