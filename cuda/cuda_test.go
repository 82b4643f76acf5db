package cuda

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/graphpass/graphpass/gpu"
	"github.com/graphpass/graphpass/gpu/gputest"
)

var (
	rtOnce sync.Once
	rt     *gpu.Runtime
	dev    *Device
	rtErr  error
)

// runtimeOrSkip opens the GPU once per test binary; without one (CI) every
// test skips, saying why.
func runtimeOrSkip(t testing.TB) (*gpu.Runtime, *Device) {
	t.Helper()
	rtOnce.Do(func() {
		if rtErr = Available(); rtErr != nil {
			return
		}
		dev, rtErr = Open(Options{NoGraphs: os.Getenv("GRAPHPASS_CUDA_NOGRAPHS") != ""})
		if rtErr == nil {
			rt = gpu.NewRuntime(dev, dev.CompileMillis())
		}
	})
	if rtErr != nil {
		if os.Getenv("GRAPHPASS_REQUIRE_GPU") != "" {
			t.Fatalf("no usable CUDA GPU: %v", rtErr)
		}
		t.Skipf("no usable CUDA GPU: %v", rtErr)
	}
	return rt, dev
}

func TestDevice(t *testing.T) {
	_, d := runtimeOrSkip(t)
	t.Logf("device %s, NVRTC %s, kernels ready in %.1f ms", d.Description(), d.NVRTCPath(), d.CompileMillis())
	bw, err := d.CopyBandwidth(1<<30, 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("device-to-device copy: %.0f GB/s (read+write)", bw/1e9)
}

// TestKernels runs every gputest case: each kernel against the CPU runtime.
func TestKernels(t *testing.T) {
	r, _ := runtimeOrSkip(t)
	ctx := context.Background()
	for _, c := range gputest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			res := gputest.Run(ctx, r, c)
			fmt.Printf("KERNEL %-48s relerr %.2e %v\n", c.Name, res.RelErr, errString(res.Err))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return "FAIL: " + err.Error()
}
