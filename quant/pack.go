package quant

// Pack packs bits-wide codes into dst as one little-endian bit stream: code
// i occupies bits [bits*i, bits*i+bits) of the stream, and stream bit b is
// bit b%32 of word b/32. For 3, 5 and 6 bits a code may straddle two words.
// dst must hold len(codes)*bits/32 words (rounded up) and be zeroed; codes
// must be below 2^bits.
func Pack(dst []uint32, codes []uint8, bits int) {
	for i, c := range codes {
		pos := i * bits
		w, off := pos>>5, uint(pos&31)
		dst[w] |= uint32(c) << off
		if int(off)+bits > 32 {
			dst[w+1] |= uint32(c) >> (32 - off)
		}
	}
}

// Unpack is the inverse of Pack: it fills dst with the first len(dst)
// bits-wide codes of src.
func Unpack(dst []uint8, src []uint32, bits int) {
	mask := uint64(1)<<bits - 1
	for i := range dst {
		pos := i * bits
		w, off := pos>>5, uint(pos&31)
		v := uint64(src[w])
		if int(off)+bits > 32 {
			v |= uint64(src[w+1]) << 32
		}
		dst[i] = uint8(v >> off & mask)
	}
}

// packGroup writes the codes of group j of row r.
func (m *Matrix) packGroup(r, j int, codes []uint8) {
	start := r*m.PackedWidth(m.Cols) + j*m.GroupWords()
	dst := m.Words[start : start+m.GroupWords()]
	clear(dst)
	Pack(dst, codes, m.Bits)
}
