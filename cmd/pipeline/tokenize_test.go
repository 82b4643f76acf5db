package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runTokenize runs `pipeline tokenize args...` in-process with fresh flags.
func runTokenize(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd, _, err := root.Find([]string{"tokenize"})
	if err != nil || cmd.Name() != "tokenize" {
		t.Fatalf("no tokenize command: %v", err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if s, ok := f.Value.(pflag.SliceValue); ok {
			s.Replace(nil)
		} else {
			f.Value.Set(f.DefValue)
		}
		f.Changed = false
	})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"tokenize"}, args...))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err = root.Execute()
	return out.String(), err
}

const qwenDir = "../../testdata/fixtures/tokenizers/qwen3"

func TestTokenizeCommand(t *testing.T) {
	out, err := runTokenize(t, "", "--json", "In the beginning")
	if err != nil {
		t.Fatal(err)
	}
	// The bundled model's reference prompt ids (models/kjv-fortunes-7m/reference.json).
	if strings.TrimSpace(out) != `{"ids":[1088,262,2401]}` {
		t.Errorf("default model: %s", out)
	}
	out, err = runTokenize(t, "", "In the beginning")
	if err != nil || strings.TrimSpace(out) != "1088 262 2401" {
		t.Errorf("plain: %q %v", out, err)
	}
	out, err = runTokenize(t, "In the beginning", "--json", "--tokens", "-")
	if err != nil || strings.TrimSpace(out) != `{"ids":[1088,262,2401],"tokens":["In","Ġthe","Ġbeginning"]}` {
		t.Errorf("stdin with tokens: %q %v", out, err)
	}
	out, err = runTokenize(t, "", "--decode", "1088,262,2401", "--json")
	if err != nil || strings.TrimSpace(out) != `{"text":"In the beginning"}` {
		t.Errorf("decode: %q %v", out, err)
	}
	out, err = runTokenize(t, "", "--decode", "1,1088,2", "--skip-special-tokens") // <|im_start|> In <|im_end|>
	if err != nil || out != "In\n" {
		t.Errorf("decode skip special: %q %v", out, err)
	}

	msgs := filepath.Join(t.TempDir(), "chat.json")
	os.WriteFile(msgs, []byte(`[{"role": "user", "content": "Hi"}]`), 0o644)
	out, err = runTokenize(t, "", "--model", qwenDir, "--messages", msgs, "--add-generation-prompt", "--chat-var", "enable_thinking=false", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// Rendered as transformers does (see chat/testdata/golden.json), then
	// encoded with special tokens recognized and none added.
	wantText := "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
	if res.Text != wantText || len(res.IDs) == 0 || res.IDs[0] != 151644 {
		t.Errorf("messages: %+v", res)
	}
	if out2, _ := runTokenize(t, "", "--model", qwenDir, "--json", "--add-special-tokens=false", wantText); !strings.Contains(out2, mustJSON(res.IDs)) {
		t.Errorf("rendered text encodes differently: %s vs %v", out2, res.IDs)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTokenizeCommandErrors(t *testing.T) {
	usage := []([]string){
		{},
		{"a", "b"},
		{"--decode", "1,x"},
		{"--decode", "1", "text"},
		{"--add-generation-prompt", "text"},
		{"--messages", "m.json", "--chat-var", "novalue"},
		{"--nosuchflag"},
	}
	for _, args := range usage {
		_, err := runTokenize(t, "", args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("tokenize %v: err = %v, want a usage error", args, err)
		}
	}
	failures := []struct {
		args []string
		want string
	}{
		{[]string{"--model", "/nonexistent", "x"}, "no tokenizer.json"},
		{[]string{"--decode", "99999999"}, "outside the vocabulary"},
		{[]string{"--messages", "/nonexistent.json"}, "nonexistent.json"},
	}
	for _, f := range failures {
		_, err := runTokenize(t, "", f.args...)
		var ue usageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), f.want) {
			t.Errorf("tokenize %v: err = %v, want a failure mentioning %q", f.args, err, f.want)
		}
	}
}
