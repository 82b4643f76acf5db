package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"iter"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// initialMemory instantiates wasm without running anything and returns its
// memory: what the data segments put there.
func initialMemory(t *testing.T, wasm []byte) []byte {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter()) // nothing runs: no need to compile
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	if _, err := rt.NewHostModuleBuilder("graphpass").NewFunctionBuilder().
		WithFunc(func(int32, int32, int32) {}).Export("log").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mod.Memory().Read(0, mod.Memory().Size())
	if !ok {
		t.Fatal("memory")
	}
	return append([]byte(nil), m...)
}

// dataSections yields the parsed segments of each data section of wasm,
// in order, failing the test on one that does not parse.
func dataSections(t *testing.T, wasm []byte) iter.Seq[[]dataSegment] {
	t.Helper()
	return func(yield func([]dataSegment) bool) {
		t.Helper()
		for p := 8; p < len(wasm); {
			size, n := uvarint(wasm[p+1:])
			if wasm[p] == sectionData {
				segs, ok := parseDataSegments(wasm[p+1+n : p+1+n+int(size)])
				if !ok {
					t.Fatal("data section does not parse")
				}
				if !yield(segs) {
					return
				}
			}
			p += 1 + n + int(size)
		}
	}
}

// paint applies a module's data segments to zeroed memory, as
// instantiation does (the real thing, for small modules: initialMemory).
func paint(t *testing.T, wasm []byte) []byte {
	t.Helper()
	var mem []byte
	for segs := range dataSections(t, wasm) {
		for _, s := range segs {
			if end := int(s.offset) + len(s.data); end > len(mem) {
				mem = append(mem, make([]byte, end-len(mem))...)
			}
			copy(mem[s.offset:], s.data)
		}
	}
	return mem
}

// countSegments returns the number of segments in wasm's first data
// section (0 without one).
func countSegments(t *testing.T, wasm []byte) int {
	t.Helper()
	for segs := range dataSections(t, wasm) {
		return len(segs)
	}
	return 0
}

// TestMergeDataSegmentsKeepsMemory: a Go module's tens of thousands of
// segments become a few, and an instance starts with the same memory.
func TestMergeDataSegmentsKeepsMemory(t *testing.T) {
	wasm, _ := testpassWasm(t)
	merged := mergeDataSegments(wasm)
	before, after := countSegments(t, wasm), countSegments(t, merged)
	t.Logf("%d segments → %d; %d → %d bytes", before, after, len(wasm), len(merged))
	if before < 1000 || after > 16 {
		t.Errorf("%d segments → %d", before, after)
	}
	if !bytes.Equal(paint(t, wasm), paint(t, merged)) {
		t.Fatal("merged module starts with different memory")
	}
	if again := mergeDataSegments(merged); !bytes.Equal(again, merged) {
		t.Error("merging twice changes the module again")
	}
}

func TestMergeDataSegmentsLeavesOthersAlone(t *testing.T) {
	for _, name := range []string{"noop.wasm", "fs_escape.wasm", "bad_log.wasm"} {
		wasm, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if got := mergeDataSegments(wasm); !bytes.Equal(got, wasm) && !bytes.Equal(initialMemory(t, got), initialMemory(t, wasm)) {
			t.Errorf("%s: memory differs", name)
		}
	}
	for _, b := range [][]byte{nil, []byte("\x00asm"), []byte("\x00asm\x01\x00\x00\x00\x0b\x05\x02\x00\x41"), []byte("not wasm at all")} {
		if got := mergeDataSegments(b); !bytes.Equal(got, b) {
			t.Errorf("%q changed", b)
		}
	}
}

// TestMergeDataSegmentsRefusesOverlap: overlapping or unordered segments
// depend on their order; they are left alone.
func TestMergeDataSegmentsRefusesOverlap(t *testing.T) {
	seg := func(off int64, data string) []byte {
		b := []byte{0, opI32Const}
		b = appendSvarint(b, off)
		b = append(b, opEnd)
		b = binary.AppendUvarint(b, uint64(len(data)))
		return append(b, data...)
	}
	module := func(segs ...[]byte) []byte {
		body := binary.AppendUvarint(nil, uint64(len(segs)))
		for _, s := range segs {
			body = append(body, s...)
		}
		m := []byte("\x00asm\x01\x00\x00\x00")
		m = append(m, 5, 3, 1, 0, 1) // memory section: one memory, min 1 page
		m = append(m, sectionData)
		m = binary.AppendUvarint(m, uint64(len(body)))
		return append(m, body...)
	}
	ok := module(seg(16, "ab"), seg(20, "cd"), seg(60000, "far"))
	got := mergeDataSegments(ok)
	if bytes.Equal(got, ok) || countSegments(t, got) != 2 || !bytes.Equal(initialMemory(t, got), initialMemory(t, ok)) {
		t.Errorf("simple merge failed")
	}
	overlap := module(seg(16, "abcd"), seg(18, "x"))
	if got := mergeDataSegments(overlap); !bytes.Equal(got, overlap) {
		t.Errorf("overlapping segments merged")
	}
	// Out of order but disjoint: order does not matter, the merge is exact.
	unordered := module(seg(20, "a"), seg(10, "b"))
	if got := mergeDataSegments(unordered); countSegments(t, got) != 1 || !bytes.Equal(initialMemory(t, got), initialMemory(t, unordered)) {
		t.Errorf("unordered segments")
	}
}

func FuzzMergeDataSegments(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\x01\x0b\x0d\x02\x00\x41\x10\x0b\x02ab\x00\x41\x14\x0b\x01c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mergeDataSegments(b) // must not panic
	})
}
