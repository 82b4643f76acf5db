// Package syntaxcheck type-checks both translations of the shared kernel
// source with clang on machines that have it (no GPU toolkit needed): the
// CUDA one as real CUDA device code, the Metal one against a stand-in
// metal_stdlib with the MSL builtins' signatures (metal_test.go). It
// catches most mistakes before a kernel reaches NVRTC or the Metal
// compiler; the device runs remain the real proof.
package syntaxcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/graphpass/graphpass/gpu"
)

func clang(t *testing.T) string {
	for _, c := range []string{"clang++-19", "clang++", "clang++-16", "clang++-15"} {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Skip("clang++ not installed; the kernel source is checked on the device instead")
	return ""
}

func check(t *testing.T, target gpu.Target, name string, args ...string) {
	cc := clang(t)
	dir := t.TempDir()
	src := filepath.Join(dir, name)
	if err := os.WriteFile(src, []byte(gpu.Source(target)), 0o644); err != nil {
		t.Fatal(err)
	}
	td, _ := filepath.Abs("testdata")
	cmd := exec.Command(cc, append(args, "-I", td, "-fsyntax-only", "-Werror", "-Wno-unknown-attributes", "-Wno-unused-function", src)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", target, err, out)
	}
}

func TestCUDASource(t *testing.T) {
	check(t, gpu.CUDA, "kernels.cu", "-x", "cuda", "--cuda-device-only", "-nocudainc", "-nocudalib",
		"--cuda-gpu-arch=sm_90", "-include", "cuda_stub.h", "-Wno-unknown-cuda-version")
}

// The Metal translation is checked in metal_test.go.
