package gpu

import (
	"encoding/binary"
	"fmt"

	"github.com/graphpass/graphpass/backend"
)

// StepState is a session's host-side view of its sequence: the running
// attention mask and position counters. Prepare turns a backend.Step into
// the bytes of the session's I/O buffer (IOLayout).
type StepState struct {
	Batch, Cap int
	Past       int // positions already in the KV cache
	mask       []int32
	real       []int // real (unmasked) tokens so far per row

	pendMask []int32 // the last prepared step's mask columns [B, seq]
	pendReal []int
}

// NewStepState starts an empty sequence of batch rows and capacity cap.
func NewStepState(batch, capacity int) *StepState {
	return &StepState{Batch: batch, Cap: capacity, mask: make([]int32, batch*capacity), real: make([]int, batch)}
}

// Prepare validates step and returns the I/O buffer image for it (header,
// mask, ids, positions) and its sequence length. maxID bounds token ids
// (0: unchecked). The state only changes on Commit.
func (s *StepState) Prepare(step backend.Step, maxID int) ([]byte, int, error) {
	if len(step.Tokens) != s.Batch {
		return nil, 0, fmt.Errorf("step has %d rows, session batch is %d", len(step.Tokens), s.Batch)
	}
	seq := len(step.Tokens[0])
	if seq == 0 {
		return nil, 0, fmt.Errorf("step has no tokens")
	}
	for r, row := range step.Tokens {
		if len(row) != seq {
			return nil, 0, fmt.Errorf("row %d has %d tokens, row 0 has %d (left-pad and mask shorter rows)", r, len(row), seq)
		}
		for j, id := range row {
			if id < 0 || (maxID > 0 && int(id) >= maxID) {
				return nil, 0, fmt.Errorf("row %d token %d: id %d outside the vocabulary [0, %d)", r, j, id, maxID)
			}
		}
	}
	if step.Mask != nil && len(step.Mask) != s.Batch {
		return nil, 0, fmt.Errorf("mask has %d rows, batch is %d", len(step.Mask), s.Batch)
	}
	if step.Positions != nil && len(step.Positions) != s.Batch {
		return nil, 0, fmt.Errorf("positions have %d rows, batch is %d", len(step.Positions), s.Batch)
	}
	if s.Past+seq > s.Cap {
		return nil, 0, fmt.Errorf("%w: %d cached + %d new positions > capacity %d (raise the session's MaxSeq)", ErrSessionFull, s.Past, seq, s.Cap)
	}
	io := IOLayout{Batch: s.Batch, Cap: s.Cap}
	buf := make([]byte, io.Bytes())
	s.pendMask = make([]int32, s.Batch*seq)
	s.pendReal = make([]int, s.Batch)
	binary.LittleEndian.PutUint32(buf[0:], uint32(s.Past))
	binary.LittleEndian.PutUint32(buf[4:], uint32(s.Past+seq))
	for r := 0; r < s.Batch; r++ {
		if step.Mask != nil && len(step.Mask[r]) != seq {
			return nil, 0, fmt.Errorf("mask row %d has %d entries for %d tokens", r, len(step.Mask[r]), seq)
		}
		if step.Positions != nil && len(step.Positions[r]) != seq {
			return nil, 0, fmt.Errorf("positions row %d has %d entries for %d tokens", r, len(step.Positions[r]), seq)
		}
		realSoFar := s.real[r]
		for c := 0; c < s.Cap; c++ {
			m := s.mask[r*s.Cap+c]
			if c >= s.Past && c < s.Past+seq {
				m = 1
				if step.Mask != nil {
					m = step.Mask[r][c-s.Past]
					if m != 0 {
						m = 1
					}
				}
			}
			binary.LittleEndian.PutUint32(buf[io.MaskOffset()+4*int64(r*s.Cap+c):], uint32(m))
		}
		for j := 0; j < seq; j++ {
			binary.LittleEndian.PutUint32(buf[io.IDsOffset()+4*int64(r*seq+j):], uint32(step.Tokens[r][j]))
			m := int32(1)
			if step.Mask != nil && step.Mask[r][j] == 0 {
				m = 0
			}
			s.pendMask[r*seq+j] = m
			if m != 0 && step.Positions != nil {
				realSoFar++
			}
			var pos int64
			switch {
			case step.Positions != nil:
				pos = step.Positions[r][j]
			case m == 0:
				pos = 1 // Hugging Face: cumsum(mask)-1, pads at 1
			default:
				realSoFar++
				pos = int64(realSoFar - 1)
			}
			binary.LittleEndian.PutUint32(buf[io.PositionsOffset()+4*int64(r*seq+j):], uint32(int32(pos)))
		}
		s.pendReal[r] = realSoFar
	}
	return buf, seq, nil
}

// Commit records that seq positions of the last prepared step are cached.
func (s *StepState) Commit(seq int) {
	for r := 0; r < s.Batch; r++ {
		copy(s.mask[r*s.Cap+s.Past:r*s.Cap+s.Past+seq], s.pendMask[r*seq:(r+1)*seq])
		s.real[r] = s.pendReal[r]
	}
	s.Past += seq
}
