package abi

import (
	"encoding/binary"
	"errors"
)

// The protobuf wire format, as much of it as the codec needs. It is written
// here rather than imported from protowire because protowire's package
// initialisation links fmt (through protobuf's internal/errors), which is
// most of a Go pass module's size beyond the runtime.

// number is a protobuf field number.
type number int32

// wireType is a protobuf wire type.
type wireType int8

const (
	varintType     wireType = 0
	fixed64Type    wireType = 1
	bytesType      wireType = 2
	startGroupType wireType = 3
	endGroupType   wireType = 4
	fixed32Type    wireType = 5
)

const maxFieldNumber = 1<<29 - 1

// Wire errors, with protowire's messages.
var (
	errTruncated   = errors.New("unexpected EOF")
	errFieldNumber = errors.New("invalid field number")
	errOverflow    = errors.New("variable length integer overflow")
	errReserved    = errors.New("cannot parse reserved wire type")
	errEndGroup    = errors.New("mismatching end group marker")
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func sizeVarint(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendTag(b []byte, num number, typ wireType) []byte {
	return appendVarint(b, uint64(num)<<3|uint64(typ&7))
}

func appendFixed64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBytes(b, v []byte) []byte { return append(appendVarint(b, uint64(len(v))), v...) }

func appendStringBytes(b []byte, v string) []byte {
	return append(appendVarint(b, uint64(len(v))), v...)
}

// consumeVarint decodes a varint at the start of b and returns it and its
// length, or an error.
func consumeVarint(b []byte) (uint64, int, error) {
	if len(b) > 0 && b[0] < 0x80 { // most varints are one byte
		return uint64(b[0]), 1, nil
	}
	var v uint64
	for i := 0; i < 10; i++ {
		if i >= len(b) {
			return 0, 0, errTruncated
		}
		c := b[i]
		if i == 9 && c > 1 {
			return 0, 0, errOverflow
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errOverflow
}

// consumeTag decodes a field tag.
func consumeTag(b []byte) (number, wireType, int, error) {
	v, n, err := consumeVarint(b)
	if err != nil {
		return 0, 0, 0, err
	}
	num := v >> 3
	if num < 1 || num > maxFieldNumber {
		return 0, 0, 0, errFieldNumber
	}
	return number(num), wireType(v & 7), n, nil
}

// consumeBytes decodes a length-prefixed value; the result aliases b.
func consumeBytes(b []byte) ([]byte, int, error) {
	l, n, err := consumeVarint(b)
	if err != nil {
		return nil, 0, err
	}
	if l > uint64(len(b)-n) {
		return nil, 0, errTruncated
	}
	return b[n : n+int(l)], n + int(l), nil
}

// consumeGroup skips the rest of a group started by field num (its start
// tag already consumed), nested groups included, and returns the bytes
// consumed.
func consumeGroup(num number, b []byte, depth int) (int, error) {
	if depth > maxGroupDepth {
		return 0, errors.New("groups nested too deeply")
	}
	start := len(b)
	for {
		n2, typ, n, err := consumeTag(b)
		if err != nil {
			return 0, err
		}
		b = b[n:]
		if typ == endGroupType {
			if n2 != num {
				return 0, errEndGroup
			}
			return start - len(b), nil
		}
		m, err := consumeValue(n2, typ, b, depth)
		if err != nil {
			return 0, err
		}
		b = b[m:]
	}
}

// consumeValue skips one field value of type typ.
func consumeValue(num number, typ wireType, b []byte, depth int) (int, error) {
	switch typ {
	case varintType:
		_, n, err := consumeVarint(b)
		return n, err
	case fixed32Type:
		if len(b) < 4 {
			return 0, errTruncated
		}
		return 4, nil
	case fixed64Type:
		if len(b) < 8 {
			return 0, errTruncated
		}
		return 8, nil
	case bytesType:
		_, n, err := consumeBytes(b)
		return n, err
	case startGroupType:
		return consumeGroup(num, b, depth+1)
	case endGroupType:
		return 0, errEndGroup
	}
	return 0, errReserved
}
