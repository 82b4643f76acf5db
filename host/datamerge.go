package host

import (
	"encoding/binary"
	"sort"
)

// Go's linker splits a module's initial memory into tens of thousands of
// small active data segments (it leaves out runs of zeros), and wazero
// evaluates each segment's offset expression on every instantiation: about
// 2 ms per instance of a Go pass, as much as the rest of instantiation.
// mergeDataSegments rewrites the data section into a few large segments,
// the gaps filled with the zeros fresh memory holds anyway, so an instance
// starts with the same bytes for a fraction of the cost. The module's
// imports, exports, code and behaviour are untouched; its SHA-256 (and
// pin) remain those of the original bytes.

const (
	sectionData      = 11
	sectionDataCount = 12
	opI32Const       = 0x41
	opEnd            = 0x0b
	// mergeGap is the largest gap between two segments that is filled with
	// zeros to merge them. Go leaves gaps of tens of bytes; a few KiB of
	// zeros cost less than another segment.
	mergeGap = 4096
)

type dataSegment struct {
	offset uint32
	data   []byte
}

// mergeDataSegments returns wasm with adjacent active data segments merged,
// or wasm itself when there is nothing to merge or the module is not one it
// understands (passive segments, other memories, non-constant offsets,
// segments out of order or overlapping, malformed sections): wazero then
// sees the original and judges it.
func mergeDataSegments(wasm []byte) []byte {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return wasm
	}
	dataStart, countStart := -1, -1 // where the sections start, header included
	var dataBody []byte
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return wasm
		}
		start, body := p, wasm[p+1+n:p+1+n+int(size)]
		p += 1 + n + int(size)
		switch id {
		case sectionData:
			dataStart, dataBody = start, body
		case sectionDataCount:
			countStart = start
		}
	}
	if dataBody == nil {
		return wasm
	}
	segs, ok := parseDataSegments(dataBody)
	if !ok || len(segs) < 2 {
		return wasm
	}
	// Group segments separated by small gaps, then copy each group once.
	var merged []dataSegment
	for i := 0; i < len(segs); {
		j, end := i+1, uint64(segs[i].offset)+uint64(len(segs[i].data))
		for ; j < len(segs); j++ {
			if uint64(segs[j].offset) < end {
				return wasm // overlapping: order would matter
			}
			if uint64(segs[j].offset)-end > mergeGap {
				break
			}
			end = uint64(segs[j].offset) + uint64(len(segs[j].data))
		}
		if j == i+1 {
			merged = append(merged, segs[i])
			i = j
			continue
		}
		start := segs[i].offset
		data := make([]byte, end-uint64(start))
		for _, s := range segs[i:j] {
			copy(data[s.offset-start:], s.data)
		}
		merged = append(merged, dataSegment{offset: start, data: data})
		i = j
	}
	if len(merged) == len(segs) {
		return wasm
	}
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(merged)))
	for _, s := range merged {
		body = append(body, 0, opI32Const)
		body = appendSvarint(body, int64(int32(s.offset)))
		body = append(body, opEnd)
		body = binary.AppendUvarint(body, uint64(len(s.data)))
		body = append(body, s.data...)
	}
	out := make([]byte, 0, len(wasm)+len(body)-len(dataBody))
	out = append(out, wasm[:8]...)
	// Copy the sections in order, replacing the data section and the data
	// count section (whose count must match).
	for p := 8; p < len(wasm); {
		size, n := uvarint(wasm[p+1:])
		next := p + 1 + n + int(size)
		switch p {
		case dataStart:
			out = append(out, sectionData)
			out = binary.AppendUvarint(out, uint64(len(body)))
			out = append(out, body...)
		case countStart:
			cnt := binary.AppendUvarint(nil, uint64(len(merged)))
			out = append(out, sectionDataCount)
			out = binary.AppendUvarint(out, uint64(len(cnt)))
			out = append(out, cnt...)
		default:
			out = append(out, wasm[p:next]...)
		}
		p = next
	}
	return out
}

// parseDataSegments parses a data section whose segments are all active,
// in memory 0, at i32.const offsets, and returns them sorted by offset.
func parseDataSegments(b []byte) ([]dataSegment, bool) {
	count, n := uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, false
	}
	b = b[n:]
	segs := make([]dataSegment, 0, count)
	for i := uint64(0); i < count; i++ {
		flags, n := uvarint(b)
		if n <= 0 || flags != 0 || len(b) < n+1 || b[n] != opI32Const {
			return nil, false
		}
		b = b[n+1:]
		off, n := svarint(b)
		if n <= 0 || len(b) < n+1 || b[n] != opEnd || off < -1<<31 || off >= 1<<31 {
			return nil, false
		}
		b = b[n+1:]
		size, n := uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, false
		}
		segs = append(segs, dataSegment{offset: uint32(int32(off)), data: b[n : n+int(size)]})
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return nil, false
	}
	// Order matters only where segments overlap, which the merge refuses.
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].offset < segs[j].offset })
	return segs, true
}

func uvarint(b []byte) (uint64, int) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, -1
	}
	return v, n
}

// svarint decodes a signed LEB128 (wasm's i32.const immediate).
func svarint(b []byte) (int64, int) {
	var v int64
	var shift uint
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, -1
}

func appendSvarint(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
