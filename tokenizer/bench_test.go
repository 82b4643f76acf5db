package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchText is ~100 KB of mixed prose, code, markdown and the golden
// inputs (CJK, emoji, numbers, whitespace runs).
func benchText(b *testing.B) string {
	var sb strings.Builder
	doc, err := os.ReadFile("../docs/graph-forms.md")
	if err != nil {
		b.Fatal(err)
	}
	srcs, _ := filepath.Glob("*.go")
	inputs, err := os.ReadFile("testdata/gen/inputs.json")
	if err != nil {
		b.Fatal(err)
	}
	var in struct{ Common []string }
	if err := json.Unmarshal(inputs, &in); err != nil {
		b.Fatal(err)
	}
	for sb.Len() < 100_000 {
		sb.Write(doc)
		for _, s := range srcs {
			src, _ := os.ReadFile(s)
			sb.Write(src)
		}
		sb.WriteString(strings.Join(in.Common, "\n"))
	}
	return sb.String()
}

func BenchmarkEncode(b *testing.B) {
	text := benchText(b)
	for _, bc := range []struct{ name, dir string }{
		{"qwen3", filepath.Join(fixtures, "qwen3")},
		{"llama3", filepath.Join(fixtures, "llama3")},
		{"spm-bpe", "testdata/spm-bpe"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tk := load(b, bc.dir)
			n := len(tk.Encode(text, false)) // warms the word cache, as a running server's would be
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				tk.Encode(text, false)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEncodeCold measures a fresh tokenizer: every word misses the
// cache once.
func BenchmarkEncodeCold(b *testing.B) {
	text := benchText(b)
	data, err := readGzip(filepath.Join(fixtures, "qwen3", "tokenizer.json.gz"))
	if err != nil {
		b.Fatal(err)
	}
	tk, err := New(data, Config{})
	if err != nil {
		b.Fatal(err)
	}
	n := len(tk.Encode(text, false))
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tk.model.cache, tk.model.rawCache = wordCache{}, wordCache{}
		b.StartTimer()
		tk.Encode(text, false)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkDecode(b *testing.B) {
	text := benchText(b)
	tk := load(b, filepath.Join(fixtures, "qwen3"))
	ids := tk.Encode(text, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Decode(ids, DecodeOptions{})
	}
	b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(filepath.Join(fixtures, "qwen3")); err != nil {
			b.Fatal(err)
		}
	}
}
