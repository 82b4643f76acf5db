package quant

import (
	"errors"
	"fmt"
)

// ErrParams is wrapped by every error about unsupported bits or group size.
var ErrParams = errors.New("unsupported quantization parameters")

// ErrShape is wrapped by every error about a matrix whose dims, packed width
// or scales/biases disagree with its parameters.
var ErrShape = errors.New("quantized matrix shape mismatch")

// Params are the affine quantization parameters of one matrix.
type Params struct {
	Bits      int // 2, 3, 4, 5, 6 or 8
	GroupSize int // 32, 64 or 128 consecutive input elements share a scale and bias
}

// Default is MLX's (and mlx-lm's) default: 4 bits, groups of 64.
var Default = Params{Bits: 4, GroupSize: 64}

// SupportedBits and SupportedGroupSizes are the values MLX's affine mode accepts.
var (
	SupportedBits       = []int{2, 3, 4, 5, 6, 8}
	SupportedGroupSizes = []int{32, 64, 128}
)

func (p Params) String() string { return fmt.Sprintf("bits=%d group_size=%d", p.Bits, p.GroupSize) }

// Validate reports whether MLX supports p.
func (p Params) Validate() error {
	if !contains(SupportedBits, p.Bits) {
		return fmt.Errorf("%w: bits %d (supported: %v)", ErrParams, p.Bits, SupportedBits)
	}
	if !contains(SupportedGroupSizes, p.GroupSize) {
		return fmt.Errorf("%w: group size %d (supported: %v)", ErrParams, p.GroupSize, SupportedGroupSizes)
	}
	return nil
}

// Levels is the largest quantized value, 2^bits - 1.
func (p Params) Levels() int { return 1<<p.Bits - 1 }

// PackedWidth is the number of uint32 words holding one row of cols values.
// Every supported group size is a multiple of 32, so a group (and a row)
// always fills whole words: cols*bits/32.
func (p Params) PackedWidth(cols int) int { return cols * p.Bits / 32 }

// GroupWords is the number of words one group occupies.
func (p Params) GroupWords() int { return p.GroupSize * p.Bits / 32 }

// CheckDims reports whether a [rows, cols] matrix can be quantized with p:
// cols must be a positive multiple of the group size.
func (p Params) CheckDims(rows, cols int) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("%w: dims [%d, %d] must be positive", ErrShape, rows, cols)
	}
	if cols%p.GroupSize != 0 {
		return fmt.Errorf("%w: input dim %d is not divisible by group size %d", ErrShape, cols, p.GroupSize)
	}
	return nil
}

// ColsFromPacked returns the logical input dim of a packed row of words
// words, or an error when words*32 is not a whole number of bits-wide values
// or the result does not divide into groups.
func (p Params) ColsFromPacked(words int) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if words <= 0 || (words*32)%p.Bits != 0 {
		return 0, fmt.Errorf("%w: packed width %d words is not a whole number of %d-bit values", ErrShape, words, p.Bits)
	}
	cols := words * 32 / p.Bits
	if cols%p.GroupSize != 0 {
		return 0, fmt.Errorf("%w: packed width %d words holds %d values, not divisible by group size %d", ErrShape, words, cols, p.GroupSize)
	}
	return cols, nil
}

func contains(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}
