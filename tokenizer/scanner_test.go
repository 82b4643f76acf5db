package tokenizer

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// Characters that exercise every branch of the split regexes: letters of
// several scripts, digits of several kinds, apostrophes and contraction
// letters, each kind of whitespace, CR/LF, punctuation, symbols, emoji and
// combining marks. ('ſ' is left out: regexp2's case-insensitive matching
// does not fold it to 's' as Oniguruma, the Rust library's engine, does.)
var scanAlphabet = []rune("aAsStTrReEvVmMlLdDxé日本ж'''\"  \t\n\r\u00a0\u3000\u2028\u000b\u000c0123٣①Ⅻ.,!?-_()*#👍🏽\u0301\u200b")

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(scanAlphabet[r.IntN(len(scanAlphabet))])
	}
	return b.String()
}

func regexpMatches(t testing.TB, expr, s string) [][2]int {
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		t.Fatal(err)
	}
	return regexPattern{re}.find(nil, s)
}

// TestScannerEqualsRegex proves the hand-written scanners equal to the
// regexes they stand for on 30,000 random strings.
func TestScannerEqualsRegex(t *testing.T) {
	for expr, sc := range knownScanners {
		re := regexPattern{regexp2.MustCompile(expr, regexp2.None)}
		r := rand.New(rand.NewPCG(1, uint64(len(expr))))
		for i := range 10000 {
			s := randomText(r, 1+r.IntN(24))
			got, want := sc.find(nil, s), re.find(nil, s)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pattern %q on %q (case %d):\n got %v\nwant %v", expr, s, i, pieces(s, got), pieces(s, want))
			}
		}
	}
}

func pieces(s string, ms [][2]int) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = s[m[0]:m[1]]
	}
	return out
}

func TestScannerExamples(t *testing.T) {
	llama3 := knownScanners[llama3Regex]
	qwen := knownScanners[qwen2Regex]
	gpt2 := knownScanners[gpt2Regex]
	tests := []struct {
		sc   pattern
		in   string
		want []string
	}{
		{gpt2, "Hello world's  end", []string{"Hello", " world", "'s", " ", " end"}},
		{gpt2, "I'M 123abc", []string{"I", "'", "M", " 123", "abc"}},
		{llama3, "I'M 12345abc", []string{"I", "'M", " ", "123", "45", "abc"}},
		{qwen, "x 12 \n\n  y", []string{"x", " ", "1", "2", " \n\n", " ", " y"}},
		{llama3, "\"quoted\" ...\n\nok", []string{"\"quoted", "\"", " ...\n\n", "ok"}},
		// Oniguruma folds 'ſ' to 's' under (?i).
		{llama3, "'ſ", []string{"'ſ"}},
	}
	for _, tt := range tests {
		if got := pieces(tt.in, tt.sc.find(nil, tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzScanner(f *testing.F) {
	for _, s := range []string{"Hello world", "I'm  \n\n x", "12345 ٣٤", "a\u00a0\u3000b", "'s'S'ſ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 'ſ') || !validUTF8(s) {
			return
		}
		for expr, sc := range knownScanners {
			got, want := sc.find(nil, s), regexpMatches(t, expr, s)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pattern %q on %q:\n got %v\nwant %v", expr, s, pieces(s, got), pieces(s, want))
			}
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }
