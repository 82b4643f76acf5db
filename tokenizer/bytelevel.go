package tokenizer

import "unicode/utf8"

// GPT-2's byte-to-unicode table: every byte maps to a printable rune so
// byte-level BPE vocabularies can be stored as text. Printable Latin-1
// bytes map to themselves; the rest map to U+0100 upwards in byte order.
var (
	byteRune    [256]rune
	byteRuneStr [256]string
	runeByte    [324]int16 // rune -> byte+1 (0 = not in the table); the table's runes are < 324
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = rune(256 + n)
			n++
		}
		byteRuneStr[b] = string(byteRune[b])
		runeByte[byteRune[b]] = int16(b + 1)
	}
}

// byteLevelEncode maps every byte of s to its printable rune.
func byteLevelEncode(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteRune[s[i]])
	}
	return string(buf)
}

// byteLevelDecodeToken returns the bytes a byte-level token stands for. A
// token with a rune outside the table (an added token such as "<|im_end|>"
// is fine, "日本" is not) decodes to its own UTF-8 bytes, as in HF tokenizers.
func byteLevelDecodeToken(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		if r >= rune(len(runeByte)) || runeByte[r] == 0 {
			return append(dst[:start], tok...)
		}
		dst = append(dst, byte(runeByte[r]-1))
	}
	return dst
}
