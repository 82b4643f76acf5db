package metal

import (
	"fmt"
	"math"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/graph"
)

// window is the page-aligned part of a file that holds one tensor.
// newBufferWithBytesNoCopy:length:options:deallocator: needs a page-aligned
// pointer and a length that covers whole pages, so a tensor is wrapped as
// the pages around it and bound at an offset.
type window struct {
	Start  int64 // file offset of the window: a multiple of the page size
	Length int64 // a multiple of the page size
	Offset int64 // the tensor's offset within the window
}

// pageWindow returns the window of the n bytes at off in a file of
// fileSize bytes. The window may end past the end of the file, inside its
// last page: a mapping always covers whole pages (the tail reads as zeros).
// align is the alignment the tensor's offset must have for the kernels.
func pageWindow(off, n, fileSize, page, align int64) (window, error) {
	if page <= 0 || page&(page-1) != 0 {
		return window{}, fmt.Errorf("page size %d is not a power of two", page)
	}
	if align <= 0 || align&(align-1) != 0 || align > page {
		return window{}, fmt.Errorf("alignment %d is not a power of two up to the page size", align)
	}
	if n <= 0 {
		return window{}, fmt.Errorf("empty tensor")
	}
	if fileSize < 0 || fileSize > math.MaxInt64-page {
		return window{}, fmt.Errorf("file size %d out of range", fileSize)
	}
	if off < 0 || off > fileSize || n > fileSize-off {
		return window{}, fmt.Errorf("bytes [%d, %d) lie outside the file's %d bytes", off, off+n, fileSize)
	}
	if off%align != 0 {
		return window{}, fmt.Errorf("offset %d is not %d-byte aligned", off, align)
	}
	start := off &^ (page - 1)
	end := (off + n + page - 1) &^ (page - 1)
	return window{Start: start, Length: end - start, Offset: off - start}, nil
}

// fileBacked reports whether slot w holds exactly the bytes of a range of
// a checkpoint file (so the device can read them in place), and which.
// Otherwise why says what the runtime does to the bytes on load.
func fileBacked(w *gpu.WeightSlot) (ref graph.WeightRef, why string, ok bool) {
	in := w.Init
	switch {
	case in == nil:
		return ref, "generated on load", false
	case in.Data != nil:
		return ref, "inline data", false
	case in.Ref == nil:
		return ref, "no file reference", false
	}
	switch w.Form {
	case gpu.FormNative:
	case gpu.FormF32:
		if in.Type.DType != graph.F32 {
			return ref, fmt.Sprintf("widened from %s to f32 on load", in.Type.DType), false
		}
	default:
		return ref, fmt.Sprintf("converted from %s on load", in.Type.DType), false
	}
	if in.Ref.Length != w.Bytes() {
		return ref, fmt.Sprintf("the file holds %d bytes, the device form %d", in.Ref.Length, w.Bytes()), false
	}
	return *in.Ref, "", true
}
