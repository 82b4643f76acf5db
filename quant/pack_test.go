package quant

import (
	"math/rand/v2"
	"testing"
)

// streamBits is an independent reference: the packed stream as a bit array.
func streamBits(codes []uint8, bits int) []uint32 {
	n := (len(codes)*bits + 31) / 32
	out := make([]uint32, n)
	for i, c := range codes {
		for b := 0; b < bits; b++ {
			if c>>b&1 == 1 {
				pos := i*bits + b
				out[pos/32] |= 1 << (pos % 32)
			}
		}
	}
	return out
}

// mlxBytes packs codes the way MLX's kernels write them: power-of-two
// widths as whole uint32 words of 32/bits codes; 3 and 6 bits as 8 (resp. 4)
// codes in 3 bytes; 5 bits as 8 codes in 5 bytes; then viewed as words.
func mlxBytes(codes []uint8, bits int) []uint32 {
	var b []byte
	switch bits {
	case 2, 4, 8:
		per := 32 / bits
		for i := 0; i < len(codes); i += per {
			var w uint32
			for k := 0; k < per; k++ {
				w |= uint32(codes[i+k]) << (k * bits)
			}
			b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
		}
	default:
		per, nbytes := 8, 3
		if bits == 6 {
			per = 4
		}
		if bits == 5 {
			nbytes = 5
		}
		for i := 0; i < len(codes); i += per {
			var v uint64
			for k := 0; k < per; k++ {
				v |= uint64(codes[i+k]) << (k * bits)
			}
			for j := 0; j < nbytes; j++ {
				b = append(b, byte(v>>(8*j)))
			}
		}
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24
	}
	return w
}

func TestPackLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bits := range SupportedBits {
		for _, n := range []int{32, 64, 128, 96} {
			codes := make([]uint8, n)
			for i := range codes {
				codes[i] = uint8(rng.IntN(1 << bits))
			}
			got := make([]uint32, n*bits/32)
			Pack(got, codes, bits)
			if want := streamBits(codes, bits); !equalWords(got, want) {
				t.Errorf("bits %d n %d: Pack %08x, bit stream %08x", bits, n, got, want)
			}
			if want := mlxBytes(codes, bits); !equalWords(got, want) {
				t.Errorf("bits %d n %d: Pack %08x, MLX byte packing %08x", bits, n, got, want)
			}
			back := make([]uint8, n)
			Unpack(back, got, bits)
			if string(back) != string(codes) {
				t.Errorf("bits %d n %d: Unpack(Pack(c)) != c", bits, n)
			}
			grp := make([]uint8, n)
			unpackGroup(grp, got, bits)
			if string(grp) != string(codes) {
				t.Errorf("bits %d n %d: unpackGroup(Pack(c)) != c", bits, n)
			}
		}
	}
}

// TestPackStraddle pins the straddling cases with hand-computed words.
func TestPackStraddle(t *testing.T) {
	for _, tc := range []struct {
		bits  int
		codes []uint8
		want  []uint32
	}{
		// 3 bits: code 10 occupies stream bits 30..32: low 2 bits end word 0,
		// its top bit starts word 1.
		{3, append(make([]uint8, 10), 7), []uint32{0xC0000000, 0x1}},
		// 5 bits: code 6 at bits 30..34.
		{5, append(make([]uint8, 6), 0x1f), []uint32{0xC0000000, 0x7}},
		// 6 bits: code 5 at bits 30..35.
		{6, append(make([]uint8, 5), 0x2d), []uint32{0x40000000, 0xb}},
	} {
		got := make([]uint32, len(tc.want))
		Pack(got, tc.codes, tc.bits)
		if !equalWords(got, tc.want) {
			t.Errorf("bits %d: got %08x want %08x", tc.bits, got, tc.want)
		}
	}
}

func equalWords(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzPackRoundTrip(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, b uint8) {
		bits := SupportedBits[int(b)%len(SupportedBits)]
		n := len(raw) / 32 * 32
		codes := make([]uint8, n)
		for i := range codes {
			codes[i] = raw[i] & uint8(1<<bits-1)
		}
		w := make([]uint32, n*bits/32)
		Pack(w, codes, bits)
		back := make([]uint8, n)
		Unpack(back, w, bits)
		if string(back) != string(codes) {
			t.Fatalf("bits %d: round trip differs", bits)
		}
	})
}
