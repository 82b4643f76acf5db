package gpu_test

import (
	"context"
	"testing"

	"github.com/graphpass/graphpass/backend"
	"github.com/graphpass/graphpass/gpu"
)

// recordingDevice is a Device that only records weight traffic; it runs
// nothing (Load does not run plans).
type recordingDevice struct {
	mapped, allocated int
	uploaded          int64
}

type fakeBuf int64

func (b fakeBuf) Size() int64 { return int64(b) }

func (d *recordingDevice) Name() string        { return "fake" }
func (d *recordingDevice) Description() string { return "fake device" }
func (d *recordingDevice) Alloc(size int64) (gpu.Buffer, error) {
	d.allocated++
	return fakeBuf(size), nil
}
func (d *recordingDevice) Free(gpu.Buffer) {}
func (d *recordingDevice) Upload(dst gpu.Buffer, off int64, data []byte) error {
	d.uploaded += int64(len(data))
	return nil
}
func (d *recordingDevice) Download(dst []byte, src gpu.Buffer, off int64) error { return nil }
func (d *recordingDevice) Run(*gpu.Plan, *gpu.Bindings) error                   { return nil }
func (d *recordingDevice) Release(*gpu.Plan)                                    {}
func (d *recordingDevice) Close() error                                         { return nil }

type mappingDevice struct{ recordingDevice }

// MapWeight maps every weight that comes from a checkpoint initializer.
func (d *mappingDevice) MapWeight(w *gpu.WeightSlot) (gpu.Buffer, bool, error) {
	if w.Init == nil {
		return nil, false, nil
	}
	d.mapped++
	return fakeBuf(w.Bytes()), true, nil
}

// TestLoadMapsWeightsInPlace: a device that can map checkpoint weights in
// place (Metal's no-copy buffers) gets no allocation or upload for them;
// generated data is still uploaded.
func TestLoadMapsWeightsInPlace(t *testing.T) {
	c := findCase(t, "decoder/qwen3/prefill6+5")
	load := func(dev gpu.Device) {
		m, err := gpu.NewRuntime(dev, 0).Load(context.Background(), c.Graph, backend.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	plain := &recordingDevice{}
	load(plain)
	mapping := &mappingDevice{}
	load(mapping)
	if mapping.mapped == 0 {
		t.Fatal("no weight was mapped")
	}
	if mapping.allocated != plain.allocated-mapping.mapped {
		t.Errorf("allocations: %d with mapping, %d without, %d mapped", mapping.allocated, plain.allocated, mapping.mapped)
	}
	if mapping.uploaded >= plain.uploaded {
		t.Errorf("uploaded %d bytes with mapping, %d without", mapping.uploaded, plain.uploaded)
	}
}
