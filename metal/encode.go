package metal

import (
	"fmt"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
)

// Limits of the Metal binding model that Run checks before it encodes
// anything (so a bad plan fails with an error, never half-encoded).
const (
	// simdWidth is the SIMD-group width the kernels assume (a warp on
	// CUDA). Every Apple GPU reports threadExecutionWidth 32; Open checks.
	simdWidth = 32
	// maxArgumentTable is the number of buffer argument table entries of
	// a compute encoder; the Params block takes the entry after the buffers.
	maxArgumentTable = 31
	// maxSetBytes: setBytes:length:atIndex: is for data smaller than 4 KB.
	maxSetBytes = 4096
	// weightAlign is the alignment of every wrapped weight's offset: the
	// kernels read weights with 16-byte vector loads (load_u4, load_f4),
	// and Apple asks buffer offsets to be aligned to the type the kernel
	// reads (at most 16 bytes).
	weightAlign = 16
)

// mtlSize is MTLSize: three NSUInteger (64-bit on arm64), passed by value.
// At 24 bytes it is passed in memory under AAPCS64 (a pointer to a copy),
// which is how the darwin code hands it to objc_msgSend.
type mtlSize struct{ Width, Height, Depth uint64 }

// kernel is what Run needs of one compiled kernel.
type kernel struct {
	pipeline   uintptr // id<MTLComputePipelineState>
	maxThreads int     // its maxTotalThreadsPerThreadgroup
}

// buffer is a Metal buffer: an id<MTLBuffer>, its contents pointer
// (shared storage: the CPU sees the same bytes) and, for checkpoint
// weights wrapped without a copy, the offset of the tensor within the
// page-aligned window the buffer covers.
type buffer struct {
	id       uintptr
	ptr      unsafe.Pointer // contents
	size     int64          // bytes usable from base
	base     int64          // offset of byte 0 within the MTLBuffer
	readOnly bool           // a wrapped read-only file mapping
	file     *fileMap       // the mapping it wraps, released on Free
}

// Size implements gpu.Buffer.
func (b *buffer) Size() int64 { return b.size }

// bytes returns n bytes of b at off (from base) for the CPU.
func (b *buffer) bytes(off, n int64) ([]byte, error) {
	if b == nil || b.id == 0 {
		return nil, fmt.Errorf("metal: not a live buffer")
	}
	if off < 0 || n < 0 || off > b.size || n > b.size-off {
		return nil, fmt.Errorf("metal: %d bytes at %d outside a %d-byte buffer", n, off, b.size)
	}
	if n == 0 {
		return nil, nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(b.ptr, b.base+off)), n), nil
}

// upload copies data into b at off: shared storage, so the CPU writes the
// bytes the GPU reads (Run waits for the GPU, so buffers are idle between
// runs).
func (b *buffer) upload(off int64, data []byte) error {
	if b != nil && b.readOnly {
		return fmt.Errorf("metal: upload to a weight wrapped read-only from %s", b.file.path)
	}
	s, err := b.bytes(off, int64(len(data)))
	if err != nil {
		return err
	}
	copy(s, data)
	return nil
}

// download copies len(dst) bytes of b at off into dst.
func (b *buffer) download(dst []byte, off int64) error {
	s, err := b.bytes(off, int64(len(dst)))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// command is one dispatch, resolved and checked, ready to encode:
// pipeline, buffer arguments 0..nbuf-1, the Params block at index nbuf,
// then dispatchThreadgroups:threadsPerThreadgroup:.
type command struct {
	pipeline uintptr
	nbuf     int
	buffers  [maxArgumentTable - 1]uintptr
	offsets  [maxArgumentTable - 1]uint64
	params   [gpu.ParamsSize]byte
	grid     mtlSize
	threads  mtlSize
}

// prepare resolves and checks every dispatch of plan; cmds is reused.
func prepare(plan *gpu.Plan, b *gpu.Bindings, kernels map[string]kernel, cmds []command) ([]command, error) {
	if gpu.ParamsSize >= maxSetBytes {
		return nil, fmt.Errorf("metal: a %d-byte Params block is over setBytes' 4 KB", gpu.ParamsSize)
	}
	if cap(cmds) < len(plan.Dispatches) {
		cmds = make([]command, len(plan.Dispatches))
	}
	cmds = cmds[:len(plan.Dispatches)]
	for i := range plan.Dispatches {
		d := &plan.Dispatches[i]
		c := &cmds[i]
		where := func() string { return fmt.Sprintf("dispatch %d (%s, node %s)", i, d.Kernel, d.Node) }
		k, ok := kernels[d.Kernel]
		if !ok || k.pipeline == 0 {
			return nil, fmt.Errorf("metal: %s: no such kernel in the compiled library", where())
		}
		if d.Threads <= 0 || d.Threads%simdWidth != 0 {
			return nil, fmt.Errorf("metal: %s: %d threads per threadgroup; the kernels need a positive multiple of %d", where(), d.Threads, simdWidth)
		}
		if d.Threads > k.maxThreads {
			return nil, fmt.Errorf("metal: %s: %d threads per threadgroup, but this pipeline allows at most %d (maxTotalThreadsPerThreadgroup)", where(), d.Threads, k.maxThreads)
		}
		if len(d.Args) > len(c.buffers) {
			return nil, fmt.Errorf("metal: %s: %d buffer arguments and the Params block exceed the %d-entry argument table", where(), len(d.Args), maxArgumentTable)
		}
		c.pipeline = k.pipeline
		c.nbuf = len(d.Args)
		for j, ref := range d.Args {
			buf, off := b.Resolve(ref)
			bb, ok := buf.(*buffer)
			if !ok || bb == nil || bb.id == 0 {
				return nil, fmt.Errorf("metal: %s: argument %d (%s) has no Metal buffer", where(), j, ref)
			}
			if off < 0 || off > bb.size {
				return nil, fmt.Errorf("metal: %s: argument %d (%s) starts %d bytes into a %d-byte buffer", where(), j, ref, off, bb.size)
			}
			at := bb.base + off
			if at%4 != 0 {
				return nil, fmt.Errorf("metal: %s: argument %d (%s) at byte offset %d is not 4-byte aligned", where(), j, ref, at)
			}
			c.buffers[j] = bb.id
			c.offsets[j] = uint64(at)
		}
		d.Params.Put(c.params[:])
		// A zero grid dimension means one threadgroup, as on CUDA (the
		// kernels bound-check their indices).
		c.grid = mtlSize{uint64(max(d.Grid[0], 1)), uint64(max(d.Grid[1], 1)), uint64(max(d.Grid[2], 1))}
		c.threads = mtlSize{uint64(d.Threads), 1, 1}
	}
	return cmds, nil
}

// encoder is the part of id<MTLComputeCommandEncoder> Run uses.
type encoder interface {
	setComputePipelineState(pipeline uintptr)
	setBuffers(buffers []uintptr, offsets []uint64) // at indices 0..len-1
	setBytes(b []byte, index int)
	dispatchThreadgroups(grid, threads mtlSize)
}

// encode records cmds in order. The pipeline is set only when it changes;
// buffer bindings persist across dispatches but are set every time.
func encode(e encoder, cmds []command) {
	var last uintptr
	for i := range cmds {
		c := &cmds[i]
		if c.pipeline != last {
			e.setComputePipelineState(c.pipeline)
			last = c.pipeline
		}
		if c.nbuf > 0 {
			e.setBuffers(c.buffers[:c.nbuf], c.offsets[:c.nbuf])
		}
		e.setBytes(c.params[:], c.nbuf)
		e.dispatchThreadgroups(c.grid, c.threads)
	}
}
