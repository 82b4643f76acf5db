package metal

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/graphpass/graphpass/gpu"
)

// recorder is an encoder that writes down every call, as the Objective-C
// encoder would send them.
type recorder struct{ calls []string }

func (r *recorder) setComputePipelineState(p uintptr) {
	r.calls = append(r.calls, fmt.Sprintf("setComputePipelineState:%#x", p))
}

func (r *recorder) setBuffers(b []uintptr, off []uint64) {
	r.calls = append(r.calls, fmt.Sprintf("setBuffers:%#x offsets:%v withRange:{0,%d}", b, off, len(b)))
}

func (r *recorder) setBytes(b []byte, index int) {
	r.calls = append(r.calls, fmt.Sprintf("setBytes:%d bytes atIndex:%d", len(b), index))
}

func (r *recorder) dispatchThreadgroups(grid, threads mtlSize) {
	r.calls = append(r.calls, fmt.Sprintf("dispatchThreadgroups:%v threadsPerThreadgroup:%v", grid, threads))
}

// fakeBuf is a buffer with no memory behind it (encode never touches it).
func fakeBuf(id uintptr, size, base int64) *buffer { return &buffer{id: id, size: size, base: base} }

type foreignBuf struct{}

func (foreignBuf) Size() int64 { return 1 << 20 }

func testBindings() *gpu.Bindings {
	return &gpu.Bindings{
		Weights: []gpu.Buffer{fakeBuf(0x100, 4096, 0), fakeBuf(0x101, 8192, 16384+48)}, // the second wrapped at an offset
		Arena:   fakeBuf(0x200, 1<<20, 0),
		K:       []gpu.Buffer{fakeBuf(0x300, 4096, 0)},
		V:       []gpu.Buffer{fakeBuf(0x301, 4096, 0)},
		IO:      fakeBuf(0x400, 1024, 0),
		Dummy:   fakeBuf(0x500, 256, 0),
	}
}

var testKernels = map[string]kernel{
	"gp_rmsnorm":     {pipeline: 0xa1, maxThreads: 1024},
	"gp_matvec_bf16": {pipeline: 0xa2, maxThreads: 256},
}

func TestPrepareEncode(t *testing.T) {
	var p1, p2 gpu.Params
	p1.N[0], p1.N[1], p1.F[0] = 4, 1024, 1e-6
	p2.N[0], p2.N[1], p2.N[2] = 1, 2048, 1024
	plan := &gpu.Plan{Dispatches: []gpu.Dispatch{
		{Kernel: "gp_rmsnorm", Grid: [3]int{4, 1, 1}, Threads: 256, Params: p1, Node: "norm",
			Args: []gpu.Buf{{Region: gpu.RegionArena, Offset: 256}, {Region: gpu.RegionArena, Offset: 0}, {Region: gpu.RegionWeight, Index: 0}}},
		{Kernel: "gp_rmsnorm", Grid: [3]int{4, 0, 0}, Threads: 256, Params: p1, Node: "norm2",
			Args: []gpu.Buf{{Region: gpu.RegionArena, Offset: 512}, {Region: gpu.RegionArena, Offset: 256}, {Region: gpu.RegionWeight, Index: 0}}},
		{Kernel: "gp_matvec_bf16", Grid: [3]int{256, 1, 1}, Threads: 256, Params: p2, Node: "proj",
			Args: []gpu.Buf{{Region: gpu.RegionArena, Offset: 1024}, {Region: gpu.RegionArena, Offset: 512}, {Region: gpu.RegionWeight, Index: 1, Offset: 64},
				{Region: gpu.RegionDummy}, {Region: gpu.RegionIO, Offset: 64}}},
	}}
	cmds, err := prepare(plan, testBindings(), testKernels, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	encode(&r, cmds)
	want := []string{
		"setComputePipelineState:0xa1",
		"setBuffers:[0x200 0x200 0x100] offsets:[256 0 0] withRange:{0,3}",
		"setBytes:128 bytes atIndex:3",
		"dispatchThreadgroups:{4 1 1} threadsPerThreadgroup:{256 1 1}",
		// same pipeline: not set again; a zero grid dimension runs one group, as on CUDA
		"setBuffers:[0x200 0x200 0x100] offsets:[512 256 0] withRange:{0,3}",
		"setBytes:128 bytes atIndex:3",
		"dispatchThreadgroups:{4 1 1} threadsPerThreadgroup:{256 1 1}",
		"setComputePipelineState:0xa2",
		// the wrapped weight is bound at its window offset plus the plan's offset
		"setBuffers:[0x200 0x200 0x101 0x500 0x400] offsets:[1024 512 16496 0 64] withRange:{0,5}",
		"setBytes:128 bytes atIndex:5",
		"dispatchThreadgroups:{256 1 1} threadsPerThreadgroup:{256 1 1}",
	}
	if got := strings.Join(r.calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("encoded calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// The Params block is the kernel's layout, byte for byte.
	if !bytes.Equal(cmds[2].params[:], p2.Bytes()) {
		t.Errorf("params bytes differ from gpu.Params.Bytes")
	}
	// cmds is reused by the next Run.
	again, err := prepare(plan, testBindings(), testKernels, cmds)
	if err != nil || &again[0] != &cmds[0] {
		t.Errorf("prepare did not reuse its command slice (err %v)", err)
	}
}

func TestPrepareRejects(t *testing.T) {
	ok := gpu.Dispatch{Kernel: "gp_rmsnorm", Grid: [3]int{1, 1, 1}, Threads: 256, Node: "n",
		Args: []gpu.Buf{{Region: gpu.RegionArena}, {Region: gpu.RegionArena, Offset: 64}}}
	many := make([]gpu.Buf, 31)
	for i := range many {
		many[i] = gpu.Buf{Region: gpu.RegionArena}
	}
	cases := []struct {
		name string
		edit func(d *gpu.Dispatch, b *gpu.Bindings)
		want string
	}{
		{"unknown kernel", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Kernel = "gp_nope" }, "no such kernel"},
		{"threads not a SIMD-group multiple", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Threads = 48 }, "multiple of 32"},
		{"no threads", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Threads = 0 }, "multiple of 32"},
		{"over the pipeline's limit", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Kernel, d.Threads = "gp_matvec_bf16", 512 }, "at most 256"},
		{"argument table overflow", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Args = many }, "31-entry argument table"},
		{"buffer of another device", func(d *gpu.Dispatch, b *gpu.Bindings) { b.Arena = foreignBuf{} }, "no Metal buffer"},
		{"freed buffer", func(d *gpu.Dispatch, b *gpu.Bindings) { b.Arena = &buffer{size: 64} }, "no Metal buffer"},
		{"offset past the end", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Args[1].Offset = 2 << 20 }, "starts 2097152 bytes into"},
		{"negative offset", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Args[1].Offset = -4 }, "starts -4 bytes into"},
		{"misaligned offset", func(d *gpu.Dispatch, b *gpu.Bindings) { d.Args[1].Offset = 66 }, "not 4-byte aligned"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := ok
			d.Args = append([]gpu.Buf(nil), ok.Args...)
			b := testBindings()
			c.edit(&d, b)
			first := gpu.Dispatch{Kernel: "gp_rmsnorm", Threads: 32, Args: []gpu.Buf{{Region: gpu.RegionKCache}}}
			_, err := prepare(&gpu.Plan{Dispatches: []gpu.Dispatch{first, d}}, b, testKernels, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "dispatch 1") {
				t.Errorf("error %q does not name dispatch 1 and %q", err, c.want)
			}
		})
	}
}

func TestBufferBytes(t *testing.T) {
	mem := make([]byte, 64)
	for i := range mem {
		mem[i] = byte(i)
	}
	b := &buffer{id: 1, ptr: unsafePointer(mem), size: 32, base: 16}
	s, err := b.bytes(4, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s, mem[20:28]) {
		t.Errorf("bytes(4, 8) = %v, want %v (base applied)", s, mem[20:28])
	}
	for _, r := range [][2]int64{{-1, 4}, {30, 4}, {0, 33}, {33, 0}} {
		if _, err := b.bytes(r[0], r[1]); err == nil {
			t.Errorf("bytes(%d, %d) of a 32-byte buffer succeeded", r[0], r[1])
		}
	}
	if _, err := (&buffer{}).bytes(0, 1); err == nil {
		t.Error("a freed buffer handed out bytes")
	}
}

func TestStatusName(t *testing.T) {
	for s, want := range map[uint64]string{statusCompleted: "completed", statusError: "error", 9: "status(9)"} {
		if got := statusName(s); got != want {
			t.Errorf("statusName(%d) = %q, want %q", s, got, want)
		}
	}
}

// TestAppleConstants pins the values that cross into Metal to the ones in
// Apple's headers (REVIEW.md gives the source of each).
func TestAppleConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"MTLLanguageVersion2_4", languageVersion2_4, 131076},
		{"MTLResourceStorageModeShared|MTLResourceCPUCacheModeDefaultCache", bufferOptions, 0},
		{"MTLResourceStorageModeShift", resourceStorageModeShift, 4},
		{"MTLResourceHazardTrackingModeShift", resourceHazardTrackingModeShift, 8},
		{"MTLCommandBufferStatusCompleted", statusCompleted, 4},
		{"MTLCommandBufferStatusError", statusError, 5},
		{"MTLGPUFamilyApple7", gpuFamilyApple7, 1007},
		{"MTLMathModeSafe", mathModeSafe, 0},
		{"MTLMathFloatingPointFunctionsPrecise", mathFloatingPointFunctionsPrecise, 1},
		{"NSUTF8StringEncoding", utf8StringEncoding, 4},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if n := len(command{}.buffers) + 1; n != maxArgumentTable {
		t.Errorf("a command binds %d entries, the argument table has %d", n, maxArgumentTable)
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func TestBufferUpload(t *testing.T) {
	mem := make([]byte, 64)
	b := &buffer{id: 1, ptr: unsafePointer(mem), size: 48, base: 16}
	if err := b.upload(4, []byte{9, 8, 7}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mem[20:23], []byte{9, 8, 7}) {
		t.Errorf("upload wrote %v at the base+offset", mem[16:24])
	}
	back := make([]byte, 3)
	if err := b.download(back, 4); err != nil || !bytes.Equal(back, []byte{9, 8, 7}) {
		t.Errorf("download = %v, %v", back, err)
	}
	if err := b.upload(46, []byte{1, 2, 3}); err == nil {
		t.Error("upload past the end succeeded")
	}
}
