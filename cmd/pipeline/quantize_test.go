package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runQuantize runs `pipeline quantize args...` in-process with fresh flags.
func runQuantize(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd, _, err := root.Find([]string{"quantize"})
	if err != nil || cmd.Name() != "quantize" {
		t.Fatalf("no quantize command: %v", err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if s, ok := f.Value.(pflag.SliceValue); ok {
			s.Replace(nil)
		} else {
			f.Value.Set(f.DefValue)
		}
		f.Changed = false
	})
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append([]string{"quantize"}, args...))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err = root.Execute()
	return out.String(), errb.String(), err
}

func TestQuantizeCommand(t *testing.T) {
	const src = "../../testdata/fixtures/qwen3-tiny"
	out := filepath.Join(t.TempDir(), "q4")
	stdout, _, err := runQuantize(t, "--model", src, "--out", out, "--json", "-q")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Quantized int     `json:"quantized_modules"`
		Bits      int     `json:"bits"`
		BPW       float64 `json:"bits_per_weight"`
		Files     []string
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output %q: %v", stdout, err)
	}
	if rep.Quantized != 15 || rep.Bits != 4 || len(rep.Files) != 1 {
		t.Errorf("report %+v", rep)
	}

	// Verbose progress goes to stderr, the summary to stdout.
	stdout, stderr, err := runQuantize(t, "--model", src, "--out", out, "--force", "--bits", "8", "-v")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "next: pipeline run --model "+out) {
		t.Errorf("no next step in %q", stdout)
	}
	if !strings.Contains(stdout, "15 of 15 modules quantized to 8 bits") || !strings.Contains(stderr, "quantize model.layers.1.mlp.up_proj.weight") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}

	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"--model", src}, true, "--out DIR is required"},
		{[]string{"--model", src, "--out", out}, true, "already exists"},
		{[]string{"--model", src, "--out", out + "x", "--bits", "7"}, true, "bits 7"},
		{[]string{"--model", src, "--out", out + "x", "--group-size", "100"}, true, "group size 100"},
		{[]string{"--model", src, "--out", out + "x", "--include-embeddings"}, true, "refine --seed-rules"},
		{[]string{"--model", src, "--out", out + "x", "extra"}, true, "unknown command"},
		{[]string{"--model", filepath.Join(t.TempDir(), "missing"), "--out", out + "x"}, false, "config.json"},
		{[]string{"--model", src, "--out", out + "x", "--exclude", "["}, false, "exclude pattern"},
	} {
		_, _, err := runQuantize(t, tc.args...)
		var ue usageError
		switch {
		case err == nil:
			t.Errorf("%v: no error", tc.args)
		case errors.As(err, &ue) != tc.usage:
			t.Errorf("%v: usage error = %v, want %v (%v)", tc.args, !tc.usage, tc.usage, err)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%v: %v, want it to mention %q", tc.args, err, tc.want)
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: error spans lines: %q", tc.args, err)
		}
	}
}
